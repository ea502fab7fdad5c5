#!/usr/bin/env bash
# run_target.sh BINARY SECONDS WORKDIR SEEDS: runs one fuzz target for SECONDS over its seeds,
# keeping new inputs in WORKDIR/corpus and crashes in WORKDIR/crashes. Exits non-zero on a crash.
set -euo pipefail
bin=$1 seconds=$2 work=$3 seeds=$4
mkdir -p "$work/corpus" "$work/crashes"
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/crashes/" "$work/corpus" "$seeds"
