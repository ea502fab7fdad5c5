#!/usr/bin/env bash
# Index build from ImageNet-like manifests (1M and 10M lines) and parallel vs sequential
# listing of 100,000 objects on s3rver behind a 10 ms-per-request delaying proxy.
# Writes both tables to docs/BENCHMARKS.md. Usage: bench/index_bench.sh [--skip-10m]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build_release
WORK=$(mktemp -d /tmp/shoal-index-bench.XXXXXX)
trap 'stop_s3rver; rm -rf "$WORK"' EXIT

TABLE=$WORK/manifest.md
{
  echo "## Index build from a manifest (issue 3)"
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
write_section index-manifest "$TABLE"
cat "$TABLE"

# Parallel vs sequential listing: 100,000 objects in 100 directories on s3rver, reached
# through a proxy adding 10 ms to every request.
OBJECTS=${LIST_OBJECTS:-100000}
start_s3rver "$WORK/s3" bench
head -c 100 /dev/urandom >"$WORK/blob"
python3 - "$WORK/put.cfg" "$S3_PORT" "$OBJECTS" "$WORK/blob" <<'PY'
import sys
cfg, port, n, blob = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(cfg, "w") as f:
    for i in range(n):
        f.write(f'upload-file = "{blob}"\nurl = "http://127.0.0.1:{port}/bench/data/d{i % 100:03d}/obj-{i:07d}"\noutput = "/dev/null"\n')
PY
echo "populating $OBJECTS objects"
curl -s --fail --parallel --parallel-max 64 -K "$WORK/put.cfg"
PROXY_PORT=$(free_port)
python3 "$ROOT/bench/delay_proxy.py" "$PROXY_PORT" "$S3_PORT" 10 >"$WORK/proxy.log" &
PROXY_PID=$!
trap 'kill $PROXY_PID 2>/dev/null; stop_s3rver; rm -rf "$WORK"' EXIT
until grep -q ready "$WORK/proxy.log"; do sleep 0.1; done

LIST=$WORK/list.md
{
  echo "## Parallel vs sequential listing (issue 3)"
  echo
  echo "\`bench/index_bench.sh\`: \`shoal index build s3://bench/data/\` over $OBJECTS objects in"
  echo "100 directories on s3rver behind \`bench/delay_proxy.py\` (+10 ms per request), one run"
  echo "each, side by side. Sequential = one list request in flight."
  echo
  echo "| list requests in flight | wall s | keys/s | list requests | speed-up |"
  echo "| ---: | ---: | ---: | ---: | ---: |"
} >"$LIST"
base=
for c in 1 16 64; do
  t0=$(date +%s.%N)
  "$SHOAL" index build s3://bench/data/ -o "$WORK/list.shix" --list-concurrency "$c" \
    --endpoint "http://127.0.0.1:$PROXY_PORT" >"$WORK/report"
  t1=$(date +%s.%N)
  wall=$(python3 -c "print(round($t1-$t0, 2))")
  reqs=$(grep -oE '[0-9]+ list requests' "$WORK/report" | cut -d' ' -f1)
  base=${base:-$wall}
  printf '| %d | %s | %.0f | %s | %.1f× |\n' "$c" "$wall" "$(python3 -c "print($OBJECTS/$wall)")" \
    "$reqs" "$(python3 -c "print($base/$wall)")" >>"$LIST"
  echo "concurrency $c: ${wall}s"
done
write_section index-listing "$LIST"
cat "$LIST"
