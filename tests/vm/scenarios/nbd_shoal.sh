# shellcheck shell=bash
# shoald's NBD server on the host serves an EROFS image on a Unix socket, forwarded into the guest
# at 10.0.2.100:10809; the guest's kernel NBD client (Debian's nbd-client) connects /dev/nbd0
# read-only with 4 KiB blocks, mounts it, verifies every entry and disconnects. Needs the shoald
# target built in $SHOAL_BUILD_DIR (ctest sets it).
scenario_setup() {
  local shoald="${SHOAL_BUILD_DIR:-}/tools/shoald"
  [ -x "$shoald" ] || vm_die "shoald not found at $shoald: build the shoald target first"
  local nbd_client
  nbd_client=$(command -v nbd-client) || vm_die "nbd-client not found (install nbd-client)"
  vm_standard_image
  local socket="$VM_WORK/nbd.sock"
  vm_background shoald "$shoald" --image "$VM_WORK/tree.erofs" --frontend nbd \
    --socket "$socket" --export-name shoal
  vm_wait_for_unix_socket "$socket"
  vm_forward 10809 "$socket"
  vm_binary "$nbd_client"
  vm_guest_script guest/nbd-verify.sh
  vm_guest_args "$VM_FORWARD_ADDRESS" 10809 shoal /etc/shoal-vm/manifest
}
