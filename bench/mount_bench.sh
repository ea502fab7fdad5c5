#!/usr/bin/env bash
# A cold epoch through `shoal mount`: s3rver behind bench/delay_proxy.py (10 ms per
# request), FILES files of SIZE bytes in 100 directories, read whole in one random order by 16
# threads (bench/read_files.py). Side by side in one run: a fresh `shoal mount` (FUSE image,
# Release build, index built from the listing) in each prefetch mode of MODES: `none` (direct
# mode: one GET per file read, nothing ahead), `cross-file` (the default: neighbours in layout
# order after each miss) and `hints` (the epoch's order handed over as a hint list, direct mode
# otherwise); `curl --parallel --parallel-max 16` fetching the same objects through the same
# proxy (signed with SigV4 like shoal, as in get_bench.sh): the ceiling of that server at the
# readers' concurrency; the same tree on a local tmpfs: the warm-epoch ceiling. Also
# `find` + stat of every entry over a freshly mounted volume vs the tmpfs tree. Writes the
# table to docs/BENCHMARKS.md (section mount-bench).
# Usage: bench/mount_bench.sh   (env: MOUNT_BENCH_FILES=20000 MOUNT_BENCH_SIZE=102400
#        MOUNT_BENCH_ROUNDS=2 MOUNT_BENCH_DELAY_MS=10 MOUNT_BENCH_MODES="none cross-file hints";
#        e.g. MOUNT_BENCH_FILES=2000 for a smoke run)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FILES=${MOUNT_BENCH_FILES:-20000}
SIZE=${MOUNT_BENCH_SIZE:-102400}
ROUNDS=${MOUNT_BENCH_ROUNDS:-2}
DELAY_MS=${MOUNT_BENCH_DELAY_MS:-10}
read -ra MODES <<<"${MOUNT_BENCH_MODES:-none cross-file hints}"
THREADS=16

build_release
WORK=$(mktemp -d /tmp/shoal-mount-bench.XXXXXX)
MNT=$WORK/mnt
PROXY_PID=
cleanup() {
  set +e  # every step runs, whatever failed before it
  mountpoint -q "$MNT" && "$SHOAL" umount "$MNT" >/dev/null 2>&1
  [[ -n $PROXY_PID ]] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  stop_s3rver
  mountpoint -q "$WORK/tmpfs" && umount "$WORK/tmpfs"
  rm -rf "$WORK"
}
trap cleanup EXIT
# shoal mount keeps its state and index here, not in /run/shoal and /var/lib/shoal.
export SHOAL_RUN_DIR=$WORK/run SHOAL_INDEX_DIR=$WORK/indexes
mkdir -p "$MNT" "$WORK/tmpfs"
mount -t tmpfs -o size=$((FILES * SIZE / 1048576 + 256))m shoal-bench "$WORK/tmpfs"
TREE=$WORK/tmpfs/train

echo "writing $FILES files of $SIZE bytes to tmpfs"
python3 - "$TREE" "$FILES" "$SIZE" <<'PY'
import os, sys
root, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(files):
    d = f"{root}/d{i % 100:03d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/img-{i:06d}.jpg", "wb") as f:
        f.write(os.urandom(size))
PY

start_s3rver "$WORK/s3" bench
PROXY_PORT=$(free_port)
python3 "$ROOT/bench/delay_proxy.py" "$PROXY_PORT" "$S3_PORT" "$DELAY_MS" >"$WORK/proxy.log" &
PROXY_PID=$!
for _ in $(seq 100); do grep -q ready "$WORK/proxy.log" && break; sleep 0.1; done
DIRECT=http://127.0.0.1:$S3_PORT
PROXIED=http://127.0.0.1:$PROXY_PORT

echo "uploading to s3rver"
(cd "$WORK/tmpfs" && find train -type f | sort) >"$WORK/keys"
awk -v dir="$WORK/tmpfs" -v url="$DIRECT/bench" \
  '{ printf "upload-file = \"%s/%s\"\nurl = \"%s/%s\"\noutput = \"/dev/null\"\n", dir, $0, url, $0 }' \
  "$WORK/keys" >"$WORK/put.cfg"
curl -sS --no-progress-meter --fail --parallel --parallel-max 32 -K "$WORK/put.cfg"
# curl reads in the same random order as the file reader.
python3 -c 'import random, sys; k = open(sys.argv[1]).read().split(); random.Random(1).shuffle(k); print("\n".join(k))' \
  "$WORK/keys" | awk -v url="$PROXIED/bench" '{ printf "url = \"%s/%s\"\noutput = \"/dev/null\"\n", url, $0 }' \
  >"$WORK/get.cfg"

# The hint list: the volume paths in read_files.py's order (same sort, same seed).
python3 -c 'import random, sys; k = open(sys.argv[1]).read().split(); random.Random(1).shuffle(k); print("\n".join(p.removeprefix("train/") for p in k))' \
  "$WORK/keys" >"$WORK/hints"
printf '[prefetch]\nmode = "none"\nhints = "%s"\n' "$WORK/hints" >"$WORK/hints.toml"

echo "indexing the listing"
"$SHOAL" index build s3://bench/train/ -o "$WORK/train.shix" --endpoint "$DIRECT" \
  --region us-east-1 >/dev/null

secs() { python3 -c "print(f'{$2 - $1:.3f}')"; }
now() { date +%s.%N; }
# A fresh mount through the proxy in prefetch mode $1: cold kernel caches, empty daemon cache.
mount_volume() {
  local mode=(--prefetch "$1")
  [[ $1 == hints ]] && mode=(--config "$WORK/hints.toml")
  "$SHOAL" mount "$WORK/train.shix" "$MNT" --endpoint "$PROXIED" --region us-east-1 \
    "${mode[@]}" --cache-memory 4GiB >/dev/null
}
count() { find "$1" -printf '%s %T@\n' | wc -l; }  # find stats every entry for %s and %T@

ENTRIES=$(count "$TREE")
declare -A shoal_s gets_of
curl_s=(); tmpfs_s=(); find_shoal_s=(); find_tmpfs_s=()
for round in $(seq "$ROUNDS"); do
  t0=$(now); curl -sS --no-progress-meter --fail --parallel --parallel-max "$THREADS" "${CURL_SIGV4[@]}" -K "$WORK/get.cfg"; t1=$(now)
  curl_s+=("$(secs "$t0" "$t1")")
  line="round $round: curl ${curl_s[-1]} s"
  for mode in "${MODES[@]}"; do
    mount_volume "$mode"
    t0=$(now); n=$(count "$MNT"); t1=$(now)
    [[ $n == "$ENTRIES" ]] || { echo "the mount shows $n entries, the tree $ENTRIES" >&2; exit 1; }
    find_shoal_s+=("$(secs "$t0" "$t1")")
    read -r n bytes s < <(python3 "$ROOT/bench/read_files.py" "$MNT" "$THREADS")
    [[ $n == "$FILES" && $bytes == $((FILES * SIZE)) ]] || { echo "shoal read $n files, $bytes bytes" >&2; exit 1; }
    shoal_s[$mode]+="$s "
    stats=$("$SHOAL" stats "$MNT")
    rss_mib=$(awk '$1 == "process_resident_memory_bytes" { printf "%.0f", $2 / 1048576 }' <<<"$stats")
    cache_mib=$(awk '$1 == "shoal_engine_cache_bytes" { printf "%.0f", $2 / 1048576 }' <<<"$stats")
    gets=$(awk '$1 == "shoal_engine_gets_total" { s += $2 } END { printf "%.0f", s }' <<<"$stats")
    "$SHOAL" umount "$MNT" >/dev/null
    gets_of[$mode]=$gets
    line+=", shoal $mode $s s ($gets GETs)"
  done
  t0=$(now); count "$TREE" >/dev/null; t1=$(now)
  find_tmpfs_s+=("$(secs "$t0" "$t1")")
  read -r n bytes s < <(python3 "$ROOT/bench/read_files.py" "$TREE" "$THREADS")
  tmpfs_s+=("$s")
  echo "$line, tmpfs ${tmpfs_s[-1]} s; find+stat shoal ${find_shoal_s[-1]} s, tmpfs ${find_tmpfs_s[-1]} s"
done

best() { printf '%s\n' "$@" | sort -g | head -1; }  # the fastest round
c=$(best "${curl_s[@]}"); t=$(best "${tmpfs_s[@]}")
fs=$(best "${find_shoal_s[@]}"); ft=$(best "${find_tmpfs_s[@]}")
rate() { python3 -c "print(f'{$FILES / $1:.0f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
declare -A mode_name=([none]="direct (\`--prefetch none\`)" [cross-file]="cross-file prefetch (the default)"
                      [hints]="the epoch's order as a hint list")
TABLE=$WORK/table.md
{
  echo "## A cold epoch through \`shoal mount\`"
  echo
  echo "\`bench/mount_bench.sh\`: $FILES files of $SIZE bytes in 100 directories on s3rver 3.7.1"
  echo "behind \`bench/delay_proxy.py\` ($DELAY_MS ms per request), read whole, once each, in one"
  echo "random order by $THREADS threads (\`bench/read_files.py\`). shoal: a fresh mount per"
  echo "round and mode (FUSE image, Release, index from the listing, 4 GiB cache), in three prefetch"
  echo "modes: direct (one GET per file as it is read), cross-file (the default: after a miss, the"
  echo "next files in layout order), and a hint list holding the epoch's order (what a job that"
  echo "shuffles with a seed can hand over; direct mode otherwise). curl: \`curl --parallel"
  echo "--parallel-max $THREADS --aws-sigv4\` over the same proxy (signed like shoal), the server's"
  echo "ceiling at the readers' concurrency; tmpfs: the same tree in memory, the warm-epoch ceiling."
  echo "find + stat: \`find -printf '%s %T@'\` over all $ENTRIES entries, right after mounting. Best"
  echo "of $ROUNDS rounds, interleaved. Machine: $(nproc) cores, load average"
  echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end, $(date -u +%F)."
  echo
  echo "| cold epoch, $THREADS threads | files/s | / curl | GETs |"
  echo "| --- | ---: | ---: | ---: |"
  for mode in "${MODES[@]}"; do
    # shellcheck disable=SC2086  # one word a round
    s=$(best ${shoal_s[$mode]})
    echo "| shoal mount, ${mode_name[$mode]} | $(rate "$s") | $(ratio "$c" "$s") | ${gets_of[$mode]} |"
  done
  echo "| curl --parallel (server ceiling) | $(rate "$c") | 1.00 | $FILES |"
  echo "| tmpfs (warm ceiling) | $(rate "$t") | $(ratio "$c" "$t") | |"
  echo
  echo "GETs: those shoald issued in the last round (the cache holds the whole epoch, so a"
  echo "prefetched file is never fetched twice). Prefetch beats curl at the readers' concurrency"
  echo "because it keeps more GETs in flight than there are readers: the readers find their"
  echo "files already fetched."
  echo
  echo "| find + stat, $ENTRIES entries | seconds | shoal / tmpfs |"
  echo "| --- | ---: | ---: |"
  echo "| shoal mount (cold) | $fs | $(ratio "$fs" "$ft") |"
  echo "| tmpfs | $ft | 1.00 |"
  echo
  echo "shoald after the last epoch: RSS $rss_mib MiB, of which the memory cache holds $cache_mib MiB"
  echo "(the rule: cache budget + 64 MiB beyond the index mapping)."
} >"$TABLE"
write_section mount-bench "$TABLE"
cat "$TABLE"
