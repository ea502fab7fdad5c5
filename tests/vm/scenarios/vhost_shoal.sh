# shellcheck shell=bash
# shoald's vhost-user-blk backend on the host serves an EROFS image (made by mkfs.erofs) on a Unix
# socket; QEMU attaches it as vhost-user-blk-pci with the guest RAM in a shared memfd, and the
# guest mounts /dev/vda and verifies every entry, resets its virtio_blk driver (the back end
# stops and restarts the rings) and mounts and verifies again. Needs the shoald target built in
# $SHOAL_BUILD_DIR (ctest sets it).
scenario_setup() {
  local shoald="${SHOAL_BUILD_DIR:-}/tools/shoald"
  [ -x "$shoald" ] || vm_die "shoald not found at $shoald: build the shoald target first"
  vm_standard_image
  local socket="$VM_WORK/vhost.sock"
  vm_background shoald "$shoald" --image "$VM_WORK/tree.erofs" --frontend vhost-user-blk \
    --socket "$socket"
  vm_wait_for_unix_socket "$socket"
  vm_vhost_user_blk "$socket"
  vm_guest_script guest/virtio-reset-verify.sh
  vm_guest_args /dev/vda /etc/shoal-vm/manifest
}
