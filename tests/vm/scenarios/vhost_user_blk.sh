# shellcheck shell=bash
# Self-test of the harness: qemu-storage-daemon exports an EROFS image as a read-only
# vhost-user-blk backend on a host Unix socket; QEMU attaches it as vhost-user-blk-pci (guest RAM
# in a shared memfd) and the guest mounts /dev/vda and verifies it. shoald's backend drops in
# for qemu-storage-daemon: see docs/testing-vm.md.
scenario_setup() {
  command -v qemu-storage-daemon >/dev/null ||
    vm_die "qemu-storage-daemon not found (install qemu-system-common)"
  vm_standard_image
  local socket="$VM_WORK/vhost.sock"
  local address="addr.type=unix,addr.path=$socket"
  vm_background qemu-storage-daemon qemu-storage-daemon \
    --blockdev "driver=file,node-name=file0,filename=$VM_WORK/tree.erofs,read-only=on" \
    --blockdev driver=raw,node-name=disk0,file=file0,read-only=on \
    --export "type=vhost-user-blk,id=export0,node-name=disk0,writable=off,$address"
  vm_wait_for_unix_socket "$socket"
  vm_vhost_user_blk "$socket"
  vm_guest_script guest/mount-verify.sh
  vm_guest_args /dev/vda /etc/shoal-vm/manifest
}
