#!/usr/bin/env bash
# Uploads to s3rver on loopback: `shoal writer` against `curl` PUTs at the same concurrency, in
# one run, rounds interleaved. Two workloads: one large checkpoint, both ways each client can
# send it (one PUT; multipart with the writer's part size, N parts in flight — curl drives the
# initiate / parts / complete requests itself), and many 1 MiB files (curl --parallel
# --parallel-max N; the writer: N uploads in flight). The writer is timed from take to durable: `shoal writer put` of
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
# curl's multipart upload sends these, one file a part: the writer's part size for this file
# (store/transfer.cc choose_part_size: 8 MiB, doubled until at most 10,000 parts).
PART_MIB=8
while (( (BIG_MIB + PART_MIB - 1) / PART_MIB > 10000 )); do PART_MIB=$((PART_MIB * 2)); done
mkdir -p "$WORK/parts"
split -a 5 -d -b "$((PART_MIB << 20))" "$WORK/big/model.ckpt-1.data" "$WORK/parts/p-"

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
  curl -sS --fail --no-progress-meter -H 'Expect:' "${CURL_SIGV4[@]}" --parallel --parallel-max "$N" -K "$cfg"
  t1=$(now)
  seconds "$t0" "$t1"
}

# curl_multipart PREFIX: the big file under PREFIX/ as a multipart upload driven by curl:
# initiate, PUT the parts N at a time (each response's ETag kept), complete; prints seconds.
curl_multipart() {
  local key=$1/model.ckpt-1.data cfg=$WORK/parts.cfg t0 t1 id number=0
  t0=$(now)
  id=$(curl -sS --fail "${CURL_SIGV4[@]}" -X POST "$URL/$key?uploads" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
  [[ -n $id ]] || { echo "s3rver returned no UploadId" >&2; return 1; }
  : >"$cfg"
  for f in "$WORK/parts"/*; do
    number=$((number + 1))
    printf 'upload-file = "%s"\nurl = "%s/%s?partNumber=%d&uploadId=%s"\noutput = "/dev/null"\nwrite-out = "%d %%header{etag}\\n"\n' \
      "$f" "$URL" "$key" "$number" "$id" "$number" >>"$cfg"
  done
  curl -sS --fail --no-progress-meter -H 'Expect:' "${CURL_SIGV4[@]}" --parallel --parallel-max "$N" -K "$cfg" |
    sort -n | awk 'BEGIN { print "<CompleteMultipartUpload>" }
                   { printf "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>\n", $1, $2 }
                   END { print "</CompleteMultipartUpload>" }' >"$WORK/complete.xml"
  curl -sS --fail "${CURL_SIGV4[@]}" -X POST --data-binary @"$WORK/complete.xml" "$URL/$key?uploadId=$id" \
    -o /dev/null
  t1=$(now)
  seconds "$t0" "$t1"
}

# writer_put PREFIX DIR [CONFIG_LINE]: a fresh writer (own journal and spool on the same file
# system, so files are hard-linked) takes every file of DIR and uploads it under PREFIX/; prints
# the seconds from the first take to `flush --wait` returning. CONFIG_LINE is added to its
# config.
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
${3:-}
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

remove_big() { curl -s --fail -X DELETE "$URL/$1/model.ckpt-1.data" -o /dev/null; }

best() { sort -g | head -1; }
one_put='multipart_threshold = "1TiB"'  # the writer sends the big file as one PUT
big_curl=(); big_writer=(); mp_curl=(); mp_writer=(); small_curl=(); small_writer=()
for r in $(seq "$ROUNDS"); do
  big_curl+=("$(curl_put "curl-$r-big" "$WORK/big")")
  remove_big "curl-$r-big"
  big_writer+=("$(writer_put "writer-$r-big" "$WORK/big" "$one_put")")
  remove_big "writer-$r-big"
  mp_curl+=("$(curl_multipart "curl-$r-mp")")
  remove_big "curl-$r-mp"
  mp_writer+=("$(writer_put "writer-$r-mp" "$WORK/big")")
  remove_big "writer-$r-mp"
  small_curl+=("$(curl_put "curl-$r-small" "$WORK/small")")
  small_writer+=("$(writer_put "writer-$r-small" "$WORK/small")")
  echo "round $r: big one PUT curl ${big_curl[-1]} s, writer ${big_writer[-1]} s;" \
    "multipart curl ${mp_curl[-1]} s, writer ${mp_writer[-1]} s;" \
    "small curl ${small_curl[-1]} s, writer ${small_writer[-1]} s"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

TABLE=$WORK/table.md
python3 - "$BIG_MIB" "$FILES" "$FILE_KIB" "$N" "$PART_MIB" \
  "$(printf '%s\n' "${big_curl[@]}" | best)" "$(printf '%s\n' "${big_writer[@]}" | best)" \
  "$(printf '%s\n' "${mp_curl[@]}" | best)" "$(printf '%s\n' "${mp_writer[@]}" | best)" \
  "$(printf '%s\n' "${small_curl[@]}" | best)" "$(printf '%s\n' "${small_writer[@]}" | best)" \
  >"$TABLE.rows" <<'PY'
import sys
big_mib, files, file_kib, n, part_mib = (int(a) for a in sys.argv[1:6])
bc, bw, mc, mw, sc, sw = (float(a) for a in sys.argv[6:12])
mb = lambda mib, s: mib * 1.048576 / s
small_mib = files * file_kib / 1024
print(f"| 1 × {big_mib} MiB, one PUT | {mb(big_mib, bc):.0f} MB/s | {mb(big_mib, bw):.0f} MB/s | "
      f"{bc / bw:.2f} |")
print(f"| 1 × {big_mib} MiB, multipart ({part_mib} MiB parts, {n} in flight) | "
      f"{mb(big_mib, mc):.0f} MB/s | {mb(big_mib, mw):.0f} MB/s | {mc / mw:.2f} |")
print(f"| {files} × {file_kib} KiB | {files / sc:.0f} files/s, {mb(small_mib, sc):.0f} MB/s | "
      f"{files / sw:.0f} files/s, {mb(small_mib, sw):.0f} MB/s | {sc / sw:.2f} |")
PY
{
  echo "## Uploads: shoal writer vs curl"
  echo
  echo "\`bench/writer_bench.sh\`: uploads to s3rver 3.7.1 (Node, single process) on loopback,"
  echo "$N in flight for both clients, $ROUNDS rounds interleaved, best round shown. curl PUTs"
  echo "with \`--parallel --parallel-max $N --aws-sigv4\` (SigV4 like the writer, the body unsigned"
  echo "in both); its multipart upload is initiate, the parts (the file pre-split, one file a part)"
  echo "and complete, each a curl request. The writer is timed from take to durable: \`shoal writer"
  echo "put\` of every file (each take hard-linked into the spool and fsynced, then recorded in the"
  echo "journal with one fdatasync per group of takes), then \`shoal writer flush --wait\`; by"
  echo "default files from 64 MiB go multipart (parts CRC-64-checked locally); the one-PUT row raises"
  echo "\`multipart_threshold\` above the file. Per file the writer also hashes the body for"
  echo "Content-MD5 and records its completion durably: work curl does not do. On s3rver a"
  echo "multipart upload is slower than one PUT whoever drives it: completing one re-reads and"
  echo "re-hashes every part. Rounds vary by ±15 % on this shared machine."
  echo "MB = 10^6 bytes. Machine: $(nproc) cores, load average $LOAD_BEFORE before and"
  echo "$LOAD_AFTER after, $(date -u +%F)."
  echo
  echo "| upload | curl | shoal writer | writer / curl |"
  echo "| --- | ---: | ---: | ---: |"
  cat "$TABLE.rows"
} >"$TABLE"
write_section writer-bench "$TABLE"
cat "$TABLE"
