# shellcheck shell=bash
# shoal's ublk path inside the guest (2 CPUs, so the disk keeps 2 hardware queues). `shoal mount
# file:///data/tree` (a directory in the initramfs, indexed in the guest: file:// ETags name the
# inode, so an index built on the host would not match the copy) through the ublk frontend with
# [frontend] ublk_queues = 2, ublk_depth = 64 from a config; verify; `shoal umount` leaves no
# disk. Then shoald alone with --ublk-queues 2 --ublk-depth 64 on the same index, the disk
# mounted the moment --ready-fd says ready; verify; SIGTERM removes the disk. Needs the shoal
# and shoald targets built in $SHOAL_BUILD_DIR (ctest sets it).
scenario_setup() {
  local tools="${SHOAL_BUILD_DIR:-}/tools"
  [ -x "$tools/shoald" ] || vm_die "shoald not found at $tools/shoald: build the shoald target"
  [ -x "$tools/shoal" ] || vm_die "shoal not found at $tools/shoal: build the shoal target"
  vm_make_object_tree "$VM_WORK/tree"
  vm_describe_tree "$VM_WORK/tree" >"$VM_WORK/manifest"
  cat >"$VM_WORK/volume.toml" <<'TOML'
[frontend]
kind = "ublk"
ublk_queues = 2
ublk_depth = 64
TOML
  vm_smp 2
  vm_binary "$tools/shoal:/usr/bin/shoal"
  vm_binary "$tools/shoald:/usr/bin/shoald"
  vm_file "$VM_WORK/tree" /data/tree
  vm_file "$VM_WORK/manifest" /etc/shoal-vm/manifest
  vm_file "$VM_WORK/volume.toml" /etc/shoal/volume.toml
  vm_guest_script guest/ublk-verify.sh
  vm_guest_args /etc/shoal-vm/manifest file:///data/tree /etc/shoal/volume.toml
}
