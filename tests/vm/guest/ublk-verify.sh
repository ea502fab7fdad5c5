# Guest: shoal's ublk path twice, with 2 queues of 64 tags each time (the guest has 2 CPUs, so
# the kernel keeps both queues), and never a wait for the disk to appear: both mounts follow
# readiness at once.
#  1. `shoal mount SOURCE` (indexed now) with CONFIG ([frontend] kind = "ublk", ublk_queues,
#     ublk_depth): the mount it makes is a ublk disk with those queues; verify; `shoal umount`
#     leaves no disk.
#  2. shoald --frontend ublk --ublk-queues 2 --ublk-depth 64 on that index with --ready-fd on a
#     FIFO: mount the disk the moment "ready" arrives; verify; SIGTERM; exit 0, no disk left.
# usage: ublk-verify.sh MANIFEST SOURCE CONFIG
. /etc/shoal-vm/lib.sh
[ $# = 3 ] || fail "usage: ublk-verify.sh MANIFEST SOURCE CONFIG"
manifest="$1" source="$2" config="$3"
index_dir=/tmp/shoal-index
mnt=/mnt/volume
queues=2 depth=64
[ -c /dev/ublk-control ] || fail "/dev/ublk-control missing: is ublk_drv loaded?"
mkdir -p "$mnt"

# check_queues DEV: the disk has $queues hardware queues of $depth tags.
check_queues() {
  name=${1#/dev/} found=0
  for hctx in /sys/block/"$name"/mq/*; do
    [ -d "$hctx" ] || fail "no blk-mq queues under /sys/block/$name/mq"
    tags=$(cat "$hctx/nr_tags")
    [ "$tags" = "$depth" ] || fail "$1 queue $(basename "$hctx") has $tags tags, not $depth"
    found=$((found + 1))
  done
  [ "$found" = "$queues" ] || fail "$1 has $found hardware queues, not $queues"
  log "$1 has $queues queues of $depth tags"
}

mounted_device() { awk -v m="$mnt" '$2 == m && $3 == "erofs" { print $1 }' /proc/mounts; }

# 1. shoal mount / umount.
shoal mount "$source" "$mnt" --config "$config" --index-dir "$index_dir" \
  >/tmp/shoal-mount.out 2>&1 ||
  fail "shoal mount failed: $(tail -n 5 /tmp/shoal-mount.out)"
dev=$(mounted_device)
case "$dev" in
  /dev/ublkb*) log "shoal mount: $(cat /tmp/shoal-mount.out)" ;;
  *) fail "shoal mount did not mount a ublk disk on $mnt (found '$dev')" ;;
esac
check_queues "$dev"
verify_tree "$mnt" "$manifest"
shoal umount "$mnt" >/tmp/shoal-umount.out 2>&1 ||
  fail "shoal umount failed: $(tail -n 5 /tmp/shoal-umount.out)"
[ -z "$(mounted_device)" ] || fail "$mnt is still mounted after shoal umount"
[ ! -e "$dev" ] || fail "$dev still exists after shoal umount returned"
log "shoal umount removed the mount and $dev"

# 2. shoald alone, mounted as soon as it says ready.
set -- "$index_dir"/*.shix
if [ $# != 1 ] || [ ! -f "$1" ]; then
  fail "shoal mount left no single index in $index_dir"
fi
index="$1"
mkfifo /tmp/shoald.ready
shoald --index "$index" --source "$source" --frontend ublk --ublk-queues "$queues" \
  --ublk-depth "$depth" --ready-fd 3 3>/tmp/shoald.ready >/tmp/shoald.log 2>&1 &
daemon=$!
daemon_failed() {
  tail -n 20 /tmp/shoald.log
  fail "$*"
}
read -r ready </tmp/shoald.ready
[ "$ready" = ready ] || daemon_failed "shoald did not get ready: '$ready'"
dev=$(sed -n 's,.*serving ublk \(/dev/ublkb[0-9]*\).*,\1,p' /tmp/shoald.log)
[ -n "$dev" ] || daemon_failed "shoald's log names no ublk disk"
mount -t erofs -o ro "$dev" "$mnt" || daemon_failed "mount -t erofs $dev right after ready failed"
check_queues "$dev"
verify_tree "$mnt" "$manifest"
umount "$mnt" || fail "umount $mnt failed"

kill -TERM "$daemon" || daemon_failed "shoald exited before SIGTERM"
wait "$daemon"
status=$?
[ "$status" = 0 ] || daemon_failed "shoald exited with status $status after SIGTERM"
[ ! -e "$dev" ] || fail "$dev still exists after shoald exited"
log "shoald stopped cleanly and removed $dev"
