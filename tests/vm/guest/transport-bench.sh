# Guest side of bench/transport_bench.sh: the same volume through ublk (shoald in this guest),
# the kernel NBD client (shoald's NBD server on the host) and vhost-user-blk (/dev/vda, shoald on
# the host). Each device gets one warm-up pass (every block then sits in its daemon's cache), then
# blkread measures random 4 KiB and sequential 1 MiB O_DIRECT reads for SECONDS each, transport
# after transport. Results are console lines "shoal-vm: bench TRANSPORT MODE bytes=… ops=…
# seconds=…" that the host script turns into a table.
# usage: transport-bench.sh SECONDS RAND_THREADS SEQ_THREADS CACHE NBD_HOST NBD_PORT
. /etc/shoal-vm/lib.sh
[ $# = 6 ] ||
  fail "usage: transport-bench.sh SECONDS RAND_THREADS SEQ_THREADS CACHE NBD_HOST NBD_PORT"
# Not "seconds" or "dev": lib.sh's wait_for_block_device sets those.
duration="$1" rand_threads="$2" seq_threads="$3" cache="$4" nbd_host="$5" nbd_port="$6"
[ -c /dev/ublk-control ] || fail "/dev/ublk-control missing: is ublk_drv loaded?"
cpus=$(grep -c '^processor' /proc/cpuinfo)

# ublk: shoald in the guest over the data set in the initramfs; one queue per guest CPU.
shoal index build file:///data/tree -o /tmp/volume.shix >/tmp/index.log 2>&1 ||
  fail "shoal index build in the guest failed: $(tail -n 3 /tmp/index.log)"
mkfifo /tmp/shoald.ready
shoald --index /tmp/volume.shix --frontend ublk \
  --ublk-queues "$cpus" --cache-memory "$cache" --ready-fd 3 3>/tmp/shoald.ready \
  >/tmp/shoald.log 2>&1 &
daemon=$!
read -r ready </tmp/shoald.ready
if [ "$ready" != ready ]; then
  tail -n 20 /tmp/shoald.log
  fail "shoald (ublk) did not get ready: '$ready'"
fi
ublk=$(sed -n 's,.*serving ublk \(/dev/ublkb[0-9]*\).*,\1,p' /tmp/shoald.log)

# NBD: one connection per guest CPU, like ublk's queues.
wait_for_block_device /dev/nbd0 10 || fail "/dev/nbd0 missing: is nbd.ko loaded?"
nbd-client "$nbd_host" "$nbd_port" /dev/nbd0 -N shoal -b 4096 -readonly -C "$cpus" ||
  fail "nbd-client could not connect /dev/nbd0"

wait_for_block_device /dev/vda 10 || fail "/dev/vda (vhost-user-blk) missing"

transports="ublk:$ublk nbd:/dev/nbd0 vhost-user-blk:/dev/vda"
for entry in $transports; do
  dev=${entry#*:}
  size=$(blockdev --getsize64 "$dev")
  log "bench device ${entry%%:*} $dev $size bytes"
  blkread warm "$dev" >/tmp/warm.out || fail "warm-up pass over $dev failed"
done
for mode in rand4k seq1m; do
  threads=$rand_threads
  [ "$mode" = seq1m ] && threads=$seq_threads
  for entry in $transports; do
    result=$(blkread "$mode" "${entry#*:}" "$duration" "$threads") ||
      fail "blkread $mode on ${entry#*:} failed"
    log "bench ${entry%%:*} $result threads=$threads"
  done
done

nbd-client -d /dev/nbd0 >/dev/null 2>&1
kill -TERM "$daemon"
wait "$daemon" || fail "shoald (ublk) exited with status $? after SIGTERM"
