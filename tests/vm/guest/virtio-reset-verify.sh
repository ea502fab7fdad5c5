# Guest: mount DEVICE (a virtio-blk disk) as EROFS and verify it against MANIFEST, then reset the
# guest driver (unbind and rebind virtio_blk, which stops and restarts the device's virtqueues
# through the back end) and mount and verify it again.
# usage: virtio-reset-verify.sh DEVICE MANIFEST
. /etc/shoal-vm/lib.sh
[ $# = 2 ] || fail "usage: virtio-reset-verify.sh DEVICE MANIFEST"
dev="$1" manifest="$2"
mount_and_verify "$dev" "$manifest"

name=${dev#/dev/}
virtio=$(basename "$(readlink "/sys/block/$name/device")") ||
  fail "cannot find the virtio device behind $dev"
driver=/sys/bus/virtio/drivers/virtio_blk
echo "$virtio" >"$driver/unbind" || fail "cannot unbind $virtio from virtio_blk"
waited=0
while [ -e "$dev" ]; do
  [ "$waited" -ge 100 ] && fail "$dev still exists 10s after unbinding $virtio"
  usleep 100000
  waited=$((waited + 1))
done
echo "$virtio" >"$driver/bind" || fail "cannot bind $virtio to virtio_blk again"
log "reset $virtio: driver unbound and bound again"
mount_and_verify "$dev" "$manifest"
