# shellcheck shell=bash
# Host-side helpers for scenario files (tests/vm/scenarios/NAME.sh), sourced by run-scenario.
# A scenario's scenario_setup function calls these to say what the guest gets (drives, network
# forwards, a vhost-user-blk socket, programs, files, arguments) and to start host servers that
# run-scenario stops again, whatever happens. Everything lives under $VM_WORK.

# run-scenario reads these after scenario_setup.
# shellcheck disable=SC2034
{
VM_GUEST_SCRIPT=""
VM_GUEST_ARGS=()
VM_INITRAMFS_ARGS=()
VM_QEMU_ARGS=()
VM_GUESTFWDS=()
VM_NEEDS_SHARED_MEMORY=0
VM_BACKGROUND_PIDS=()
VM_VHOST_COUNT=0
VM_SMP=""
VM_MEMORY=""
}

# The address the guest dials for every forwarded host service (see vm_forward).
VM_FORWARD_ADDRESS=10.0.2.100

vm_die() { echo "run-scenario: FAIL: $*" >&2; exit 1; }

# shellcheck disable=SC2034  # read by run-scenario
vm_guest_script() { VM_GUEST_SCRIPT="$1"; }
vm_guest_args() { VM_GUEST_ARGS+=("$@"); }
vm_binary() { VM_INITRAMFS_ARGS+=(--binary "$1"); }
vm_file() { VM_INITRAMFS_ARGS+=(--file "$1:$2"); }
vm_module() { VM_INITRAMFS_ARGS+=(--module "$1"); }
vm_qemu_args() { VM_QEMU_ARGS+=("$@"); }
# Guest CPUs and RAM (MiB) when the command line gives none (defaults: 1 CPU, 1024 MiB).
vm_smp() { VM_SMP="$1"; }
vm_memory() { VM_MEMORY="$1"; }

# A read-only virtio-blk disk: the guest sees /dev/vda, /dev/vdb, ... in the order of calls.
vm_drive() {
  [[ -f "$1" ]] || vm_die "drive image $1 not found"
  VM_QEMU_ARGS+=(-drive "file=$1,format=raw,if=virtio,readonly=on")
}

# A virtio-blk disk served by a vhost-user-blk backend listening on the Unix socket SOCK (the
# backend must be listening before QEMU starts). vhost-user needs the guest RAM in shared
# memory the backend can map, hence the memfd backend run-scenario then adds.
vm_vhost_user_blk() {
  local id="vu$VM_VHOST_COUNT"
  [[ -S "$1" ]] || vm_die "vhost-user-blk socket $1 is not listening"
  VM_QEMU_ARGS+=(-chardev "socket,id=$id,path=$1" -device "vhost-user-blk-pci,chardev=$id")
  VM_VHOST_COUNT=$((VM_VHOST_COUNT + 1))
  # shellcheck disable=SC2034  # read by run-scenario
  VM_NEEDS_SHARED_MEMORY=1
}

# Makes the host service TARGET reachable from the guest at $VM_FORWARD_ADDRESS:GUEST_PORT.
# TARGET is HOST_PORT (a TCP port on 127.0.0.1) or a Unix socket path. The guest NIC uses
# QEMU user networking with restrict=on, so these forwards are all the guest can reach: no
# other host port and nothing beyond the host. Each guest connection runs one relay process
# (QEMU's guestfwd "cmd:" form), so servers see one fresh connection per guest connection.
vm_forward() {
  local guest_port="$1" target="$2" relay
  if [[ "$target" =~ ^[0-9]+$ ]]; then
    relay="socat STDIO TCP:127.0.0.1:$target"
  else
    relay="socat STDIO UNIX-CONNECT:$target"
  fi
  VM_GUESTFWDS+=("tcp:$VM_FORWARD_ADDRESS:$guest_port-cmd:$relay")
}

# Starts a host server in the background; run-scenario stops it when the run ends and prints
# its output ($VM_WORK/servers/NAME.log) if the scenario fails.
vm_background() {
  local name="$1"
  shift
  mkdir -p "$VM_WORK/servers"
  "$@" >"$VM_WORK/servers/$name.log" 2>&1 &
  VM_BACKGROUND_PIDS+=("$!")
  echo "run-scenario: started $name (pid $!): $*" >&2
}

vm_stop_background() {
  local pid
  for pid in "${VM_BACKGROUND_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  VM_BACKGROUND_PIDS=()
}

vm_wait_for_unix_socket() {
  local path="$1" seconds="${2:-20}"
  for _ in $(seq $((seconds * 10))); do
    [[ -S "$path" ]] && return 0
    sleep 0.1
  done
  vm_die "nothing listens on $path after ${seconds}s"
}

vm_wait_for_tcp_port() {
  local port="$1" seconds="${2:-20}"
  for _ in $(seq $((seconds * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  vm_die "nothing listens on 127.0.0.1:$port after ${seconds}s"
}

# A small tree that exercises the layouts a block-device EROFS mount must get right: empty and
# block-boundary file sizes, a multi-block file, a directory with many entries (multi-block
# directory), nesting, a name with spaces, a symlink.
vm_make_test_tree() {
  local dir="$1" i size
  mkdir -p "$dir/nested/deeper/deepest" "$dir/many" "$dir/with space"
  : >"$dir/empty"
  for size in 1 4095 4096 4097 65537; do
    head -c "$size" /dev/urandom >"$dir/size-$size"
  done
  head -c $((1024 * 1024 + 3)) /dev/urandom >"$dir/nested/deeper/deepest/one-mib-plus-3"
  for i in $(seq -w 1 150); do
    head -c "$((10#$i * 37))" /dev/urandom >"$dir/many/file-$i"
  done
  echo "hello from shoal" >"$dir/with space/a file.txt"
  chmod 600 "$dir/size-4096"
  chmod 755 "$dir/nested/deeper"
  ln -s "nested/deeper/deepest/one-mib-plus-3" "$dir/link"
}

# The test tree as an object store holds it, for volumes indexed from a store rather than made
# by mkfs.erofs: no symlink, and the modes an index gives every entry (files 0644, dirs 0755).
vm_make_object_tree() {
  local dir="$1"
  vm_make_test_tree "$dir"
  rm "$dir/link"
  find "$dir" -type f -exec chmod 644 {} +
  find "$dir" -type d -exec chmod 755 {} +
}

# Describes DIR exactly as the guest describes its mount: same busybox, same shell code.
vm_describe_tree() {
  busybox sh -c '. "$1"; describe_tree "$2"' sh "$VM_HERE/lib/guest.sh" "$1"
}

vm_make_erofs() {
  local dir="$1" image="$2"
  command -v mkfs.erofs >/dev/null || vm_die "mkfs.erofs not found (install erofs-utils)"
  mkfs.erofs -T 0 --all-root "$image" "$dir" >"$VM_WORK/mkfs.erofs.out" 2>&1 ||
    vm_die "mkfs.erofs failed: $(cat "$VM_WORK/mkfs.erofs.out")"
}

# The usual data set for a scenario: a test tree, its manifest (copied into the guest as
# /etc/shoal-vm/manifest) and an EROFS image of it at $VM_WORK/tree.erofs.
vm_standard_image() {
  vm_make_test_tree "$VM_WORK/tree"
  vm_describe_tree "$VM_WORK/tree" >"$VM_WORK/manifest"
  vm_file "$VM_WORK/manifest" /etc/shoal-vm/manifest
  vm_make_erofs "$VM_WORK/tree" "$VM_WORK/tree.erofs"
}
