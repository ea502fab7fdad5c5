# shellcheck shell=sh
# Helpers for scenario scripts, in POSIX sh for busybox. Inside the guest this file is
# /etc/shoal-vm/lib.sh; the host also sources it (under busybox sh) to describe the source tree
# with exactly the code the guest uses to describe the mounted one.

log() { echo "shoal-vm: $*"; }

# Ends the scenario as failed; /init prints the reason in the verdict line.
fail() {
  mkdir -p /run/shoal-vm
  echo "$*" >/run/shoal-vm/reason
  log "FAIL: $*"
  exit 1
}

# Block devices appear asynchronously after a driver binds or a server attaches.
wait_for_block_device() {
  dev="$1" seconds="${2:-30}" waited=0
  while [ ! -b "$dev" ]; do
    [ "$waited" -ge "$((seconds * 10))" ] && return 1
    usleep 100000
    waited=$((waited + 1))
  done
}

# One line per entry under DIR, sorted: "d MODE PATH", "f MODE SHA256 PATH" or
# "l PATH -> TARGET". Paths are relative to DIR and start with "./".
describe_tree() (
  cd "$1" || exit 1
  find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r path; do
    if [ -L "$path" ]; then
      echo "l $path -> $(readlink "$path")"
    elif [ -d "$path" ]; then
      echo "d $(stat -c %a "$path") $path"
    elif [ -f "$path" ]; then
      echo "f $(stat -c %a "$path") $(sha256sum <"$path" | cut -d' ' -f1) $path"
    else
      echo "? $path"
    fi
  done
)

# Fails the scenario unless the tree under DIR matches MANIFEST (describe_tree's output for
# the source tree): same entries, types, modes, link targets and file contents.
verify_tree() {
  dir="$1" manifest="$2"
  describe_tree "$dir" >/tmp/actual-tree || fail "cannot walk $dir"
  if ! diff "$manifest" /tmp/actual-tree >/tmp/tree.diff; then
    head -n 20 /tmp/tree.diff
    fail "tree under $dir differs from $manifest ($(grep -c '^[-+][dfl?] ' /tmp/tree.diff) lines)"
  fi
  log "verified $(wc -l <"$manifest") entries under $dir"
}

# Mounts block device DEV as EROFS (read-only), checks the tree against MANIFEST and unmounts.
mount_and_verify() {
  dev="$1" manifest="$2" mnt=/mnt/volume
  wait_for_block_device "$dev" 30 || fail "$dev did not appear within 30s"
  mkdir -p "$mnt"
  mount -t erofs -o ro "$dev" "$mnt" || fail "mount -t erofs $dev failed: $(dmesg | tail -n 3)"
  verify_tree "$mnt" "$manifest"
  umount "$mnt" || fail "umount $mnt failed"
}
