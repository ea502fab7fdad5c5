# Guest: start a ublk server (DAEMON ARG...) inside the guest, wait for its block device, mount it
# as EROFS, verify it against MANIFEST, unmount, stop the server with SIGTERM and check that it
# exits cleanly and its device is gone. Waiting for shoald's ublk frontend: no scenario runs this
# yet (docs/testing-vm.md has the scenario to add).
# usage: ublk-verify.sh DEVICE MANIFEST DAEMON [ARG...]
. /etc/shoal-vm/lib.sh
[ $# -ge 3 ] || fail "usage: ublk-verify.sh DEVICE MANIFEST DAEMON [ARG...]"
dev="$1" manifest="$2"
shift 2
[ -c /dev/ublk-control ] || fail "/dev/ublk-control missing: is ublk_drv loaded?"

"$@" >/tmp/ublk-daemon.log 2>&1 &
daemon=$!
daemon_failed() {
  tail -n 20 /tmp/ublk-daemon.log
  fail "$*"
}
if ! wait_for_block_device "$dev" 60; then
  kill "$daemon" 2>/dev/null
  daemon_failed "$dev did not appear within 60s after starting $1"
fi
mount_and_verify "$dev" "$manifest"

kill -TERM "$daemon" || daemon_failed "$1 exited before SIGTERM"
wait "$daemon"
status=$?
[ "$status" = 0 ] || daemon_failed "$1 exited with status $status after SIGTERM"
waited=0
while [ -e "$dev" ]; do
  [ "$waited" -ge 100 ] && fail "$dev still exists 10s after $1 exited"
  usleep 100000
  waited=$((waited + 1))
done
log "$1 stopped cleanly and removed $dev"
