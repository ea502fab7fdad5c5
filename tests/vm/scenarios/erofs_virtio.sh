# shellcheck shell=bash
# Self-test of the harness: an EROFS image made by mkfs.erofs, attached as a read-only virtio-blk
# disk; the guest mounts /dev/vda and verifies every entry against the manifest.
scenario_setup() {
  vm_standard_image
  vm_drive "$VM_WORK/tree.erofs"
  vm_guest_script guest/mount-verify.sh
  vm_guest_args /dev/vda /etc/shoal-vm/manifest
}
