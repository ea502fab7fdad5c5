# shellcheck shell=bash
# shoald's ublk frontend inside the guest (copied in with its libraries) serves an EROFS image
# from the initramfs as /dev/ublkb0; the guest mounts it, verifies every entry, unmounts, stops
# shoald with SIGTERM and checks that it exits 0 and that the kernel deleted the device. Needs
# the shoald target built in $SHOAL_BUILD_DIR (ctest sets it).
scenario_setup() {
  local shoald="${SHOAL_BUILD_DIR:-}/tools/shoald"
  [ -x "$shoald" ] || vm_die "shoald not found at $shoald: build the shoald target first"
  vm_standard_image
  vm_binary "$shoald:/usr/bin/shoald"
  vm_file "$VM_WORK/tree.erofs" /data/tree.erofs
  vm_guest_script guest/ublk-verify.sh
  vm_guest_args /dev/ublkb0 /etc/shoal-vm/manifest \
    shoald --image /data/tree.erofs --frontend ublk
}
