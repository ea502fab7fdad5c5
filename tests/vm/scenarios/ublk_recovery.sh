# shellcheck shell=bash
# ublk user recovery inside the guest: shoald (--ublk-user-recovery) serves an EROFS image as
# /dev/ublkb0; it is killed under the mount and a new shoald (--ublk-recover-device 0) takes the
# device over; a verification waiting meanwhile passes. Needs the shoald target built in
# $SHOAL_BUILD_DIR (ctest sets it).
scenario_setup() {
  local shoald="${SHOAL_BUILD_DIR:-}/tools/shoald"
  [ -x "$shoald" ] || vm_die "shoald not found at $shoald: build the shoald target first"
  vm_standard_image
  vm_binary "$shoald:/usr/bin/shoald"
  vm_file "$VM_WORK/tree.erofs" /data/tree.erofs
  vm_guest_script guest/ublk-recovery-verify.sh
  vm_guest_args /dev/ublkb0 /etc/shoal-vm/manifest /usr/bin/shoald /data/tree.erofs
}
