#!/usr/bin/env bash
# Uploads to s3rver on loopback: `shoal writer` against `curl` PUTs at the same concurrency, in
# one run, rounds interleaved. Two workloads: one large checkpoint (curl: one PUT; the writer:
# multipart, N parts in flight) and many 1 MiB files (curl --parallel --parallel-max N; the
# writer: N uploads in flight). The writer is timed from take to durable: `shoal writer put` of
# every file, then `shoal writer flush --wait`. Writes the table to docs/BENCHMARKS.md.
#
# Sizes (a smoke run shrinks them):
#   WRITER_BENCH_BIG_MIB=2048  WRITER_BENCH_FILES=1000  WRITER_BENCH_FILE_KIB=1024
#   WRITER_BENCH_CONCURRENCY=8  WRITER_BENCH_ROUNDS=2
set -euo pipefail
shopt -s inherit_errexit  # a failed upload inside $(…) stops the run
source "$(dirname "$0")/lib.sh"
BIG_MIB=${WRITER_BENCH_BIG_MIB:-2048}
FILES=${WRITER_BENCH_FILES:-1000}
FILE_KIB=${WRITER_BENCH_FILE_KIB:-1024}
N=${WRITER_BENCH_CONCURRENCY:-8}
ROUNDS=${WRITER_BENCH_ROUNDS:-2}

build_release
WORK=$(mktemp -d /tmp/shoal-writer-bench.XXXXXX)
WRITER_PID=
stop_writer() {
  [[ -n $WRITER_PID ]] && kill "$WRITER_PID" 2>/dev/null && wait "$WRITER_PID" 2>/dev/null
  WRITER_PID=
}
# set +e: stop_s3rver's wait returns the server's signal status, which must not end the cleanup.
trap 'set +e; stop_writer; stop_s3rver; rm -rf "$WORK"' EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start_s3rver "$WORK/s3" bench
URL=http://127.0.0.1:$S3_PORT/bench

echo "creating one $BIG_MIB MiB file and $FILES files of $FILE_KIB KiB"
mkdir -p "$WORK/big" "$WORK/small"
head -c "$((BIG_MIB << 20))" /dev/urandom >"$WORK/big/model.ckpt-1.data"
head -c "$((FILES * FILE_KIB << 10))" /dev/urandom |
  split -a 5 -d -b "$((FILE_KIB << 10))" - "$WORK/small/f-"

now() { date +%s.%N; }
seconds() { python3 -c "print($2 - $1)"; }

# curl_put PREFIX DIR: PUTs every file of DIR to PREFIX/<name>, N at a time; prints seconds.
curl_put() {
  local cfg=$WORK/put.cfg
  : >"$cfg"
  for f in "$2"/*; do
    printf 'upload-file = "%s"\nurl = "%s/%s/%s"\noutput = "/dev/null"\n' \
      "$f" "$URL" "$1" "$(basename "$f")" >>"$cfg"
  done
  local t0 t1
  t0=$(now)
  curl -sS --fail --no-progress-meter -H 'Expect:' --parallel --parallel-max "$N" -K "$cfg"
  t1=$(now)
  seconds "$t0" "$t1"
}

# writer_put PREFIX DIR: a fresh writer (own journal and spool on the same file system, so
# files are hard-linked) takes every file of DIR and uploads it under PREFIX/; prints the
# seconds from the first take to `flush --wait` returning.
writer_put() {
  local state=$WORK/writer-$1
  mkdir -p "$state"
  local cfg=$state/writer.toml
  cat >"$cfg" <<EOF
destination = "s3://bench/$1/"
journal = "$state/writer.journal"
spool = "$state/spool"
parallel_uploads = $N
parallel_parts = $N
[store]
endpoint = "http://127.0.0.1:$S3_PORT"
region = "us-east-1"
EOF
  "$SHOAL" writer --config "$cfg" >"$state/writer.log" 2>&1 &
  WRITER_PID=$!
  for _ in $(seq 100); do
    "$SHOAL" writer status --config "$cfg" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local t0 t1
  t0=$(now)
  "$SHOAL" writer put "$2"/* --config "$cfg" >/dev/null
  "$SHOAL" writer flush --wait --config "$cfg" >/dev/null
  t1=$(now)
  stop_writer
  rm -rf "$state"
  seconds "$t0" "$t1"
}

# shoal_put PREFIX: the big file through `shoal put` (the same multipart client, no writer
# around it: no spool, journal or per-part CRC check); prints seconds.
shoal_put() {
  local t0 t1
  t0=$(now)
  "$SHOAL" put "$WORK/big/model.ckpt-1.data" "s3://bench/$1/" --parallel "$N" \
    --endpoint "http://127.0.0.1:$S3_PORT" --region us-east-1 >/dev/null
  t1=$(now)
  seconds "$t0" "$t1"
}

remove_big() { curl -s --fail -X DELETE "$URL/$1/model.ckpt-1.data" -o /dev/null; }

best() { sort -g | head -1; }
big_curl=(); big_writer=(); big_put=(); small_curl=(); small_writer=()
for r in $(seq "$ROUNDS"); do
  big_curl+=("$(curl_put "curl-$r-big" "$WORK/big")")
  remove_big "curl-$r-big"
  big_writer+=("$(writer_put "writer-$r-big" "$WORK/big")")
  remove_big "writer-$r-big"
  big_put+=("$(shoal_put "put-$r-big")")
  remove_big "put-$r-big"
  small_curl+=("$(curl_put "curl-$r-small" "$WORK/small")")
  small_writer+=("$(writer_put "writer-$r-small" "$WORK/small")")
  echo "round $r: big curl ${big_curl[-1]} s, writer ${big_writer[-1]} s," \
    "shoal put ${big_put[-1]} s;" \
    "small curl ${small_curl[-1]} s, writer ${small_writer[-1]} s"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

bc=$(printf '%s\n' "${big_curl[@]}" | best)
bw=$(printf '%s\n' "${big_writer[@]}" | best)
bp=$(printf '%s\n' "${big_put[@]}" | best)
sc=$(printf '%s\n' "${small_curl[@]}" | best)
sw=$(printf '%s\n' "${small_writer[@]}" | best)
TABLE=$WORK/table.md
python3 - "$BIG_MIB" "$FILES" "$FILE_KIB" "$N" "$bc" "$bw" "$sc" "$sw" "$bp" >"$TABLE.rows" <<'PY'
import sys
big_mib, files, file_kib, n = (int(a) for a in sys.argv[1:5])
bc, bw, sc, sw, bp = (float(a) for a in sys.argv[5:10])
mb = lambda mib, s: mib * 1.048576 / s
small_mib = files * file_kib / 1024
print(f"| 1 × {big_mib} MiB | {mb(big_mib, bc):.0f} MB/s (one PUT) | "
      f"{mb(big_mib, bw):.0f} MB/s (multipart, {n} parts in flight) | {bc / bw:.2f} |")
print(f"| {files} × {file_kib} KiB | {files / sc:.0f} files/s, {mb(small_mib, sc):.0f} MB/s | "
      f"{files / sw:.0f} files/s, {mb(small_mib, sw):.0f} MB/s | {sc / sw:.2f} |")
print()
print(f"For scale, `shoal put --parallel {n}` (the same multipart client without the writer's\n"
      f"spool, journal and CRC checks) uploaded the {big_mib} MiB file at "
      f"{mb(big_mib, bp):.0f} MB/s: on s3rver\na multipart upload is slower than one PUT, "
      f"whoever drives it.")
PY
{
  echo "## Uploads: shoal writer vs curl (issue 5)"
  echo
  echo "\`bench/writer_bench.sh\`: uploads to s3rver 3.7.1 (Node, single process) on loopback,"
  echo "$N in flight for both clients, $ROUNDS rounds interleaved, best round shown. curl PUTs"
  echo "with \`--parallel --parallel-max $N\` (unsigned; the large file as one PUT). The writer"
  echo "signs with SigV4 and is timed from take to durable: \`shoal writer put\` of every file"
  echo "(each take hard-linked into the spool and fsynced into the journal), then"
  echo "\`shoal writer flush --wait\`; large files go multipart (parts CRC-64-checked locally)."
  echo "MB = 10^6 bytes. Machine: $(nproc) cores, load average $LOAD_BEFORE before and"
  echo "$LOAD_AFTER after (shared with other work), $(date -u +%F)."
  echo
  echo "| upload | curl | shoal writer | writer / curl |"
  echo "| --- | ---: | ---: | ---: |"
  cat "$TABLE.rows"
} >"$TABLE"
write_section writer-bench "$TABLE"
cat "$TABLE"
