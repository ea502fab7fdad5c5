# Guest: connect the kernel NBD client (/dev/nbd0) to an NBD server, mount the export as EROFS,
# verify it against MANIFEST, unmount and disconnect. HOST:PORT is where the guest reaches the
# server: with run-scenario's forwards, 10.0.2.100 and the forwarded port.
# usage: nbd-verify.sh HOST PORT EXPORT MANIFEST
. /etc/shoal-vm/lib.sh
[ $# = 4 ] || fail "usage: nbd-verify.sh HOST PORT EXPORT MANIFEST"
host="$1" port="$2" export_name="$3" manifest="$4"
command -v nbd-client >/dev/null || fail "nbd-client is not in the initramfs"
wait_for_block_device /dev/nbd0 10 || fail "/dev/nbd0 missing: is nbd.ko loaded?"
nbd-client "$host" "$port" /dev/nbd0 -N "$export_name" -b 4096 -readonly ||
  fail "nbd-client could not connect /dev/nbd0 to $host:$port export '$export_name'"
log "/dev/nbd0 holds $(blockdev --getsize64 /dev/nbd0) bytes"
mount_and_verify /dev/nbd0 "$manifest"
nbd-client -d /dev/nbd0 || fail "nbd-client -d /dev/nbd0 failed"
