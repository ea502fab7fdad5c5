#!/usr/bin/env bash
# Index build from ImageNet-like manifests (1M and 10M lines) and parallel vs sequential
# listing of 100,000 objects on s3rver behind a 10 ms-per-request delaying proxy.
# Writes both tables to docs/BENCHMARKS.md.
# Usage: bench/index_bench.sh [--skip-10m | --listing-only]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build_release
WORK=$(mktemp -d /tmp/shoal-index-bench.XXXXXX)
trap 'stop_s3rver; rm -rf "$WORK"' EXIT

TABLE=$WORK/manifest.md
{
  echo "## Index build from a manifest"
  echo
  echo "\`bench/index_bench.sh\`: \`shoal index build s3://bucket/train/ --from-manifest M\` on"
  echo "ImageNet-like keys (\`train/nXXXXXXXX/nXXXXXXXX_NNNNN.JPEG\`, 1,000 directories, 20–200 KB)."
  echo "Wall time and peak RSS from GNU time; $(nproc) cores, $(date -u +%F). strmvol's published"
  echo "figures (8 vCPUs, listing) for reference."
  echo
  echo "| objects | wall s | peak RSS MB | index MB | index B/object | strmvol s | strmvol MB |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} >"$TABLE"
sizes=(1000000 10000000)
[[ ${1:-} == --skip-10m ]] && sizes=(1000000)
[[ ${1:-} == --listing-only ]] && sizes=()
for n in "${sizes[@]}"; do
  python3 "$ROOT/bench/make_manifest.py" "$n" "$WORK/manifest.csv"
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$SHOAL" index build s3://bench/train/ \
    --from-manifest "$WORK/manifest.csv" -o "$WORK/index.shix" >"$WORK/report"
  read -r wall rss_kb <"$WORK/time"
  bytes=$(stat -c %s "$WORK/index.shix")
  case $n in 1000000) ref="11.1 | 871";; 10000000) ref="130.6 | 8700";; esac
  printf '| %d | %.2f | %.0f | %.0f | %.0f | %s |\n' "$n" "$wall" "$(bc <<<"$rss_kb/1024")" \
    "$(bc <<<"$bytes/1048576")" "$(bc <<<"$bytes/$n")" "$ref" >>"$TABLE"
  echo "$n objects: ${wall}s, $((rss_kb / 1024)) MB peak"
  rm -f "$WORK/manifest.csv" "$WORK/index.shix"
done
if ((${#sizes[@]})); then
  write_section index-manifest "$TABLE"
  cat "$TABLE"
fi

# Parallel vs sequential listing of 100,000 objects in 1,000 directories through a proxy adding
# 10 ms to every request, against two servers: s3rver, and bench/list_server.py, which answers
# from memory the way a scaled-out store does (see its header for why both).
OBJECTS=${LIST_OBJECTS:-100000}
start_s3rver "$WORK/s3" bench
head -c 100 /dev/urandom >"$WORK/blob"
python3 - "$WORK/put.cfg" "$S3_PORT" "$OBJECTS" "$WORK/blob" <<'PY'
import sys
cfg, port, n, blob = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(cfg, "w") as f:
    for i in range(n):
        f.write(f'upload-file = "{blob}"\nurl = "http://127.0.0.1:{port}/bench/data/d{i % 1000:03d}/obj-{i:07d}"\noutput = "/dev/null"\n')
PY
echo "populating s3rver with $OBJECTS objects"
curl --no-progress-meter --fail --parallel --parallel-max 64 -K "$WORK/put.cfg"

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; stop_s3rver; rm -rf "$WORK"' EXIT
# start_delayed NAME TARGET_PORT → DELAYED_PORT: a 10 ms proxy in front of TARGET_PORT.
start_delayed() {
  DELAYED_PORT=$(free_port)
  python3 "$ROOT/bench/delay_proxy.py" "$DELAYED_PORT" "$2" 10 >"$WORK/$1-proxy.log" &
  PIDS+=($!)
  until grep -q ready "$WORK/$1-proxy.log"; do sleep 0.1; done
}
start_delayed s3rver "$S3_PORT"
S3RVER_PROXY=$DELAYED_PORT
LIST_PORT=$(free_port)
python3 "$ROOT/bench/list_server.py" "$LIST_PORT" bench "$OBJECTS" 1000 >"$WORK/list-server.log" &
PIDS+=($!)
until grep -q ready "$WORK/list-server.log"; do sleep 0.1; done
start_delayed memory "$LIST_PORT"
MEMORY_PROXY=$DELAYED_PORT

LIST=$WORK/list.md
{
  echo "## Parallel vs sequential listing"
  echo
  echo "\`bench/index_bench.sh\`: \`shoal index build s3://bench/data/\` over $OBJECTS objects in"
  echo "1,000 directories, through \`bench/delay_proxy.py\` (+10 ms per request), one run each, side"
  echo "by side; $(nproc) cores, $(date -u +%F). Sequential = one list request in flight. Two"
  echo "servers: s3rver, and \`bench/list_server.py\`, which lists from memory the way a"
  echo "scaled-out store does. s3rver reads a metadata file per listed key in one Node process"
  echo "(~0.3 ms a key), so its own CPU, not the round trip, bounds every client there."
  echo
  echo "| server | list requests in flight | wall s | keys/s | list requests | speed-up |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
} >"$LIST"
for server in "s3rver:$S3RVER_PROXY" "in-memory:$MEMORY_PROXY"; do
  name=${server%%:*} port=${server##*:} base=
  for c in 1 16 64; do
    t0=$(date +%s.%N)
    "$SHOAL" index build s3://bench/data/ -o "$WORK/list.shix" --list-concurrency "$c" \
      --endpoint "http://127.0.0.1:$port" >"$WORK/report"
    t1=$(date +%s.%N)
    wall=$(python3 -c "print(round($t1-$t0, 2))")
    reqs=$(grep -oE '[0-9]+ list requests' "$WORK/report" | cut -d' ' -f1)
    base=${base:-$wall}
    printf '| %s | %d | %s | %.0f | %s | %.1f× |\n' "$name" "$c" "$wall" \
      "$(python3 -c "print($OBJECTS/$wall)")" "$reqs" "$(python3 -c "print($base/$wall)")" >>"$LIST"
    echo "$name, $c in flight: ${wall}s"
  done
done
write_section index-listing "$LIST"
cat "$LIST"
