# Guest: ublk user recovery. Starts SHOALD on IMAGE with --ublk-user-recovery, mounts DEVICE and verifies it; kills the server with SIGKILL under the mount,
# drops the page cache and starts a second verification, which waits on the device; starts a new
# server that takes the device over (--ublk-recover-device N); the waiting verification must then
# pass. Finally unmounts, stops the server with SIGTERM and checks that the device is gone.
# usage: ublk-recovery-verify.sh DEVICE MANIFEST SHOALD IMAGE
. /etc/shoal-vm/lib.sh
[ $# = 4 ] || fail "usage: ublk-recovery-verify.sh DEVICE MANIFEST SHOALD IMAGE"
dev="$1" manifest="$2" server="$3" image="$4"
mnt=/mnt/volume
[ -c /dev/ublk-control ] || fail "/dev/ublk-control missing: is ublk_drv loaded?"

# serve [DEVICE-NUMBER]: a shoald that adds a device, or takes device N over.
serve() {
  "$server" --image "$image" --frontend ublk --ublk-user-recovery \
    ${1:+--ublk-recover-device "$1"} >>/tmp/ublk-serve.log 2>&1 &
  pid=$!
}
server_failed() {
  tail -n 30 /tmp/ublk-serve.log
  fail "$*"
}

serve
wait_for_block_device "$dev" 60 || server_failed "$dev did not appear within 60s"
mkdir -p "$mnt"
mount -t erofs -o ro "$dev" "$mnt" || server_failed "mount -t erofs $dev failed"
verify_tree "$mnt" "$manifest"

kill -KILL "$pid"
wait "$pid"
echo 3 >/proc/sys/vm/drop_caches
(verify_tree "$mnt" "$manifest") &
verifier=$!
log "server killed under the mount; a verification now waits on $dev"

serve "${dev#/dev/ublkb}"
wait "$verifier" || server_failed "verification after recovery failed"
log "a new server took $dev over and the waiting verification passed"

umount "$mnt" || fail "umount $mnt failed"
kill -TERM "$pid" || server_failed "the recovering server exited before SIGTERM"
wait "$pid"
status=$?
[ "$status" = 0 ] || server_failed "the recovering server exited with status $status"
waited=0
while [ -e "$dev" ]; do
  [ "$waited" -ge 100 ] && fail "$dev still exists 10s after the server exited"
  usleep 100000
  waited=$((waited + 1))
done
log "the server stopped cleanly and removed $dev"
