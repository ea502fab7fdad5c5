# shellcheck shell=bash
# The transport benchmark's guest (bench/transport_bench.sh runs it through run-scenario; it is no
# ctest scenario). One data set, three shoald: on the host an NBD server (forwarded to the
# guest's kernel NBD client) and a vhost-user-blk backend (the guest's /dev/vda), and in the
# guest a ublk server over a copy of the data set in the initramfs, indexed in the guest (file://
# ETags name the inode, so the host's index would not match the copy);
# guest/transport-bench.sh warms each device and measures them side by side.
#
# From the environment: BENCH_TOOLS (a directory with shoal and shoald), BENCH_READER (a static
# blkread), BENCH_DATA_MIB, BENCH_MEMORY_MIB (guest RAM), BENCH_SECONDS, BENCH_RAND_THREADS,
# BENCH_SEQ_THREADS.
scenario_setup() {
  local tools="${BENCH_TOOLS:?}" data_mib="${BENCH_DATA_MIB:?}" nbd_client
  if [ ! -x "$tools/shoal" ] || [ ! -x "$tools/shoald" ]; then
    vm_die "no shoal and shoald in $tools"
  fi
  [ -x "${BENCH_READER:?}" ] || vm_die "reader $BENCH_READER not built"
  nbd_client=$(command -v nbd-client) || vm_die "nbd-client not found (install nbd-client)"
  make_bench_tree "$VM_WORK/tree" "$data_mib"
  "$tools/shoal" index build "file://$VM_WORK/tree" -o "$VM_WORK/volume.shix" \
    >"$VM_WORK/index.log" 2>&1 || vm_die "shoal index build failed: $(cat "$VM_WORK/index.log")"
  # Room for the whole data set: after the warm-up pass every read is a cache hit.
  local cache="$((data_mib * 2 + 64))MiB"
  vm_background shoald-nbd "$tools/shoald" --index "$VM_WORK/volume.shix" --frontend nbd \
    --socket "$VM_WORK/nbd.sock" --export-name shoal --cache-memory "$cache"
  vm_background shoald-vhost "$tools/shoald" --index "$VM_WORK/volume.shix" \
    --frontend vhost-user-blk --socket "$VM_WORK/vhost.sock" --cache-memory "$cache"
  vm_wait_for_unix_socket "$VM_WORK/nbd.sock"
  vm_wait_for_unix_socket "$VM_WORK/vhost.sock"
  vm_forward 10809 "$VM_WORK/nbd.sock"
  vm_vhost_user_blk "$VM_WORK/vhost.sock"
  # Two vCPUs: the in-guest ublk server gets one while the reader runs on the other.
  vm_smp 2
  vm_memory "${BENCH_MEMORY_MIB:?}"
  vm_binary "$tools/shoal:/usr/bin/shoal"
  vm_binary "$tools/shoald:/usr/bin/shoald"
  vm_binary "$nbd_client"
  vm_binary "$BENCH_READER:/usr/bin/blkread"
  vm_file "$VM_WORK/tree" /data/tree
  vm_guest_script guest/transport-bench.sh
  vm_guest_args "${BENCH_SECONDS:?}" "${BENCH_RAND_THREADS:?}" "${BENCH_SEQ_THREADS:?}" "$cache" \
    "$VM_FORWARD_ADDRESS" 10809
}

# DATA_MIB of incompressible files, 256 KiB each, in 8 directories.
make_bench_tree() {
  local dir="$1" data_mib="$2" i
  for i in $(seq 0 $((data_mib * 4 - 1))); do
    mkdir -p "$dir/d$((i % 8))"
    head -c $((256 * 1024)) /dev/urandom >"$dir/d$((i % 8))/f$i.bin"
  done
}
