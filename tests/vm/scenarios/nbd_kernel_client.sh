# shellcheck shell=bash
# Self-test of the harness: qemu-nbd serves an EROFS image read-only on a host Unix socket,
# forwarded into the guest at 10.0.2.100:10809; the guest's kernel NBD client (Debian's
# nbd-client, copied in) connects /dev/nbd0, and the guest mounts and verifies it.
# To aim the same guest script at another NBD server, see docs/testing-vm.md.
scenario_setup() {
  command -v qemu-nbd >/dev/null || vm_die "qemu-nbd not found (install qemu-utils)"
  local nbd_client
  nbd_client=$(command -v nbd-client) || vm_die "nbd-client not found (install nbd-client)"
  vm_standard_image
  vm_background qemu-nbd qemu-nbd --read-only --persistent --format=raw --export-name=shoal \
    --socket="$VM_WORK/nbd.sock" "$VM_WORK/tree.erofs"
  vm_wait_for_unix_socket "$VM_WORK/nbd.sock"
  vm_forward 10809 "$VM_WORK/nbd.sock"
  vm_binary "$nbd_client"
  vm_guest_script guest/nbd-verify.sh
  vm_guest_args "$VM_FORWARD_ADDRESS" 10809 shoal /etc/shoal-vm/manifest
}
