# Guest: mount DEVICE as EROFS and verify it against MANIFEST.
# usage: mount-verify.sh DEVICE MANIFEST
. /etc/shoal-vm/lib.sh
[ $# = 2 ] || fail "usage: mount-verify.sh DEVICE MANIFEST"
mount_and_verify "$1" "$2"
