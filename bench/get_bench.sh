#!/usr/bin/env bash
# Concurrent small-object GETs: `shoal bench get` against `curl --parallel`, same objects, same
# server (s3rver on loopback), same concurrency, interleaved in one run. Writes the table to
# docs/BENCHMARKS.md. Usage: bench/get_bench.sh [OBJECTS] [SIZE_BYTES]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OBJECTS=${1:-2000}
SIZE=${2:-102400}
ROUNDS=3

build_release
WORK=$(mktemp -d /tmp/shoal-get-bench.XXXXXX)
trap 'stop_s3rver; rm -rf "$WORK"' EXIT
start_s3rver "$WORK/s3" bench
URL=http://127.0.0.1:$S3_PORT/bench

echo "populating $OBJECTS objects of $SIZE bytes"
head -c "$SIZE" /dev/urandom >"$WORK/blob"
: >"$WORK/put.cfg"; : >"$WORK/get.cfg"
for i in $(seq -f %06g 1 "$OBJECTS"); do
  printf 'upload-file = "%s"\nurl = "%s/small/obj-%s"\noutput = "/dev/null"\n' "$WORK/blob" "$URL" "$i" >>"$WORK/put.cfg"
  printf 'url = "%s/small/obj-%s"\noutput = "/dev/null"\n' "$URL" "$i" >>"$WORK/get.cfg"
done
curl -s --fail --parallel --parallel-max 32 -K "$WORK/put.cfg"

SHOAL_ARGS=(--endpoint "http://127.0.0.1:$S3_PORT" --region us-east-1)
"$SHOAL" bench get "s3://bench/small/" --concurrency 16 --count "$OBJECTS" "${SHOAL_ARGS[@]}" >/dev/null  # warm

best() { sort -g | tail -1; }
TABLE=$WORK/table.md
{
  echo "## Concurrent GETs of small objects"
  echo
  echo "\`bench/get_bench.sh\`: $OBJECTS objects of $SIZE bytes on s3rver 3.7.1 (Node, single"
  echo "process) on loopback; each client fetches every object once per round, $ROUNDS rounds"
  echo "interleaved, best round shown. curl is \`curl --parallel --parallel-max N --aws-sigv4\`;"
  echo "both clients sign every request with SigV4. Machine: $(nproc) cores, $(date -u +%F)."
  echo "s3rver (one Node process) saturates its core above ~16 in flight, so past that both"
  echo "clients measure the server; the goal is shoal ≥ curl at equal concurrency."
  echo
  echo "| concurrency | curl objects/s | shoal objects/s | shoal / curl | shoal p50 ms | shoal p99 ms |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
} >"$TABLE"
for N in 16 64 256; do
  curl_rates=(); shoal_rates=(); shoal_lines=()
  for _ in $(seq "$ROUNDS"); do
    t0=$(date +%s.%N)
    curl -s --fail --parallel --parallel-max "$N" "${CURL_SIGV4[@]}" -K "$WORK/get.cfg"
    t1=$(date +%s.%N)
    curl_rates+=("$(python3 -c "print($OBJECTS/($t1-$t0))")")
    line=$("$SHOAL" bench get "s3://bench/small/" --concurrency "$N" --count "$OBJECTS" "${SHOAL_ARGS[@]}")
    shoal_lines+=("$line")
    shoal_rates+=("$(sed -E 's/.*, ([0-9.]+) objects\/s.*/\1/' <<<"$line")")
  done
  c=$(printf '%s\n' "${curl_rates[@]}" | best)
  s=$(printf '%s\n' "${shoal_rates[@]}" | best)
  bestline=$(printf '%s\n' "${shoal_lines[@]}" | grep -F " $s objects/s" | head -1)
  p50=$(sed -E 's/.*p50 ([0-9.]+) ms.*/\1/' <<<"$bestline")
  p99=$(sed -E 's/.*p99 ([0-9.]+) ms.*/\1/' <<<"$bestline")
  printf '| %d | %.0f | %.0f | %.2f | %s | %s |\n' "$N" "$c" "$s" "$(python3 -c "print($s/$c)")" "$p50" "$p99" >>"$TABLE"
  echo "concurrency $N: curl $c/s, shoal $s/s"
done
write_section get-bench "$TABLE"
cat "$TABLE"
