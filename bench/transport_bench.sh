#!/usr/bin/env bash
# Block transports side by side: the same volume read through ublk (shoald inside a
# QEMU guest), the guest's kernel NBD client (shoald's NBD server on the host) and
# vhost-user-blk (shoald on the host, the guest's /dev/vda), in one guest boot. After a warm-up
# pass per device every read is a daemon cache hit; bench/blkread.c then measures random 4 KiB
# and sequential 1 MiB O_DIRECT reads for a fixed time per transport. Writes the table to
# docs/BENCHMARKS.md (section transport-bench). The guest runs under TCG (no KVM), so only the
# ratios between transports mean anything.
#
# Environment (defaults in brackets): TRANSPORT_BENCH_DATA_MIB [64] data set size,
# TRANSPORT_BENCH_SECONDS [8] per measurement, TRANSPORT_BENCH_RAND_THREADS [8] and
# TRANSPORT_BENCH_SEQ_THREADS [2] reads in flight. A smoke run: TRANSPORT_BENCH_DATA_MIB=8
# TRANSPORT_BENCH_SECONDS=2 bench/transport_bench.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export BENCH_DATA_MIB=${TRANSPORT_BENCH_DATA_MIB:-64}
export BENCH_SECONDS=${TRANSPORT_BENCH_SECONDS:-8}
export BENCH_RAND_THREADS=${TRANSPORT_BENCH_RAND_THREADS:-8}
export BENCH_SEQ_THREADS=${TRANSPORT_BENCH_SEQ_THREADS:-2}
# Guest RAM: the data set sits in the initramfs (packed and unpacked) and in the ublk daemon's
# cache.
export BENCH_MEMORY_MIB=$((1024 + BENCH_DATA_MIB * 4))

build_release
export BENCH_TOOLS=$BUILD/tools
[[ -x $BENCH_TOOLS/shoald ]] || { echo "no shoald in $BENCH_TOOLS" >&2; exit 1; }
WORK=$(mktemp -d /tmp/shoal-transport-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export BENCH_READER=$WORK/blkread
cc -O2 -static -pthread -Wall -Wextra -o "$BENCH_READER" "$ROOT/bench/blkread.c"

echo "booting the guest: $BENCH_DATA_MIB MiB, ${BENCH_SECONDS}s per measurement"
"$ROOT/tests/vm/run-scenario" --timeout 900 --log "$WORK/console.log" \
  "$ROOT/tests/vm/bench/transport.sh"
kernel=$(basename "$("$ROOT/tests/vm/fetch-kernel" --offline)")

TABLE=$WORK/table.md
python3 - "$WORK/console.log" "$TABLE" "$kernel" "$(nproc)" "$(date -u +%F)" \
  "$BENCH_DATA_MIB" "$BENCH_MEMORY_MIB" "$BENCH_SECONDS" <<'PY'
import re, sys
console, out, kernel, cores, day, data_mib, memory, seconds = sys.argv[1:9]
results, threads = {}, {}
for line in open(console, errors="replace"):
    m = re.search(r"shoal-vm: bench (\S+) mode=(\w+) bytes=(\d+) ops=(\d+) seconds=([\d.]+) "
                  r"threads=(\d+)", line)
    if m:
        name, mode, nbytes, ops, secs, n = m.groups()
        results[(name, mode)] = (int(nbytes) / float(secs) / 1e6, int(ops) / float(secs))
        threads[mode] = n
names = ["ublk", "nbd", "vhost-user-blk"]
modes = ["rand4k", "seq1m"]
missing = [f"{n} {m}" for n in names for m in modes if (n, m) not in results]
if missing:
    sys.exit("no result for " + ", ".join(missing) + " in the console log")
best = {m: max(results[(n, m)][0] for n in names) for m in modes}
where = {"ublk": "in the guest (`/dev/ublkb0`)",
         "nbd": "host, NBD over QEMU user networking (`/dev/nbd0`)",
         "vhost-user-blk": "host, guest RAM shared (`/dev/vda`)"}
with open(out, "w") as f:
    f.write(f"""## Block transports in a QEMU guest

`bench/transport_bench.sh`: one volume (an index over a `file://` data set of {data_mib} MiB in
256 KiB files) served to one QEMU guest three ways at once, each by its own `shoald` (Release
build): ublk with the daemon inside the guest, the kernel NBD client (`nbd-client -C 2`)
talking to the daemon's NBD server on the host through QEMU user networking, and
vhost-user-blk with the daemon on the host. Guest: TCG, 2 vCPUs, {memory} MiB, Debian
`{kernel}`.
One warm-up pass per device puts the whole volume in each daemon's memory cache; then
`bench/blkread.c` reads with `O_DIRECT`: {threads['rand4k']} threads of random 4 KiB reads,
then {threads['seq1m']} threads of sequential 1 MiB reads, {seconds} s per transport and
pattern, transport after transport. Host: {cores} shared cores, {day}.

**TCG makes the absolute numbers meaningless** (every guest instruction is emulated); only the
ratios between transports are. Under TCG they also favour the host daemons: the ublk daemon
runs on an emulated guest CPU, while the NBD and vhost-user-blk daemons run natively on the
host (NBD then pays for the emulated NIC, QEMU's user-mode network stack and a relay process).
On real hardware or KVM the ublk daemon runs natively too.

| transport | daemon | random 4 KiB IOPS | MB/s | vs best | sequential 1 MiB MB/s | vs best |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
""")
    for n in names:
        r_mb, r_iops = results[(n, "rand4k")]
        s_mb, _ = results[(n, "seq1m")]
        f.write(f"| {n} | {where[n]} | {r_iops:.0f} | {r_mb:.1f} | {r_mb / best['rand4k']:.2f} "
                f"| {s_mb:.1f} | {s_mb / best['seq1m']:.2f} |\n")
PY
write_section transport-bench "$TABLE"
cat "$TABLE"
