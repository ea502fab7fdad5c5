# shellcheck shell=bash
# ublk user recovery inside the guest: a ublk server (the UblkServe helper in
# daemon_ublk_serve_test) serves an EROFS image as /dev/ublkb0 with UBLK_F_USER_RECOVERY; it is
# killed under the mount and a new one takes the device over; a verification waiting meanwhile
# passes. Needs the daemon_ublk_serve_test target built in $SHOAL_BUILD_DIR (ctest sets it).
scenario_setup() {
  local server="${SHOAL_BUILD_DIR:-}/tests/daemon_ublk_serve_test"
  [ -x "$server" ] || vm_die "$server not found: build the daemon_ublk_serve_test target first"
  vm_standard_image
  vm_binary "$server:/usr/bin/ublk-serve"
  vm_file "$VM_WORK/tree.erofs" /data/tree.erofs
  vm_guest_script guest/ublk-recovery-verify.sh
  vm_guest_args /dev/ublkb0 /etc/shoal-vm/manifest /usr/bin/ublk-serve /data/tree.erofs
}
