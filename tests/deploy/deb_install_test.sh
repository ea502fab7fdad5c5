#!/usr/bin/env bash
# The Debian package in a fresh Debian bookworm root (mmdebstrap, from Debian's archive): it
# installs with apt (its dependencies resolved from the archive), `shoal --version`,
# `shoald --version` and `shoal-csi --version` run, and a file:// volume mounts and reads back
# inside the root. Run in a private mount namespace so nothing it mounts outlives it.
#   tests/deploy/deb_install_test.sh build/package/shoal_<version>_amd64.deb
set -euo pipefail
deb=$(realpath "$1")
[[ -f $deb ]] || { echo "no package at $1: run scripts/package" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: run scripts/setup" >&2; exit 1; }
if [[ ${SHOAL_IN_PRIVATE_NS:-} != 1 ]]; then
  exec env SHOAL_IN_PRIVATE_NS=1 unshare --mount --propagation private "$0" "$@"
fi
work=$(mktemp -d /tmp/shoal-deb-XXXXXX)
root=$work/root
# The root gets the host's /dev bound into it: a removal that went through that mount would
# delete the host's device nodes. So everything under the root is unmounted first, the
# removal never crosses into another file system, and with a mount still there nothing is
# removed at all.
cleanup() {
  umount -R "$root/dev" 2>/dev/null || umount -l "$root/dev" 2>/dev/null || true
  umount "$root/proc" 2>/dev/null || umount -l "$root/proc" 2>/dev/null || true
  if grep -q " $work/" /proc/self/mountinfo; then
    echo "deb_install: mounts left under $work; not removing it" >&2
    return
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
name=$(basename "$deb")
check='set -e
shoal --version; shoald --version; shoal-csi --version
test -f /etc/shoal/training.toml && test -f /lib/systemd/system/shoal-writer@.service
mkdir -p /data/set/dir /mnt/vol
printf "from the package\n" > /data/set/dir/file.txt
export SHOAL_RUN_DIR=/run/shoal SHOAL_INDEX_DIR=/var/lib/shoal
shoal mount file:///data/set /mnt/vol --frontend fuse
got=$(cat /mnt/vol/dir/file.txt)
shoal umount /mnt/vol
test "$got" = "from the package"
echo "deb_install: mounted and read a file:// volume inside the fresh root"'
mmdebstrap --variant=apt --mode=root --include=ca-certificates \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" apt-get install -y -qq --no-install-recommends fuse3 /tmp/$name" \
  bookworm "$root"
# The host's devices (FUSE, loop) and a /proc, as a node's root would have them.
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mkdir -p "$root/run/shoal"
chroot "$root" sh -c "$check"
