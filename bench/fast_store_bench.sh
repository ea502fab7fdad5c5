#!/usr/bin/env bash
# A cold epoch against a store that is not the bottleneck: nginx (one worker, static files,
# sendfile) serves a tree on tmpfs as path-style `bucket/key` with Range, ETag and If-Match; a
# second nginx server adds a delay per request with the echo module's `echo_sleep` (no proxy
# in the way). The index is built from a manifest carrying nginx's ETags (`"<hex mtime>-<hex
# size>"`). Side by side in one run, for each delay of DELAYS and each reader count of READERS:
#   curl --parallel --parallel-max READERS   the same GETs, signed with SigV4 like shoal;
#   shoal mount (FUSE image)                 a fresh mount per prefetch mode of MODES and worker
#                                            count of WORKERS, read by bench/read_list.c with
#                                            READERS threads.
# Every file is read once, whole, in one random order (the same for every client). Reported:
# files/s, and CPU per file of the client (shoald, from /proc/PID/stat; curl, from its
# rusage), of nginx, of the reader and of the whole machine (/proc/stat). Then: the cost per
# file as the data set grows (SCALE_FILES, direct mode, the first delay and reader count), a
# warm epoch (shoald's cache, the page cache dropped; and the page cache itself) against the
# same tree on tmpfs, a short perf profile of shoald in a cold direct epoch, and a plot of
# files/s against readers. Writes the section fast-store-bench of docs/BENCHMARKS.md and
# docs/fast_store_bench.png.
# Usage: bench/fast_store_bench.sh   (env: FAST_BENCH_FILES=20000 FAST_BENCH_SIZE=102400
#        FAST_BENCH_READERS="64 256" FAST_BENCH_DELAYS="0 10" FAST_BENCH_MODES="none cross-file hints"
#        FAST_BENCH_WORKERS="1 2" (shoald --workers; the scale, warm and profile runs use the last)
#        FAST_BENCH_SCALE_FILES="5000 20000 80000" FAST_BENCH_CACHE=4GiB FAST_BENCH_PERF=1
#        FAST_BENCH_PREFAULT=1 (shoal mount --cache-prefault, the epoch starting once it is done)
#        FAST_BENCH_PERF_OUT=FILE (keep the profile's perf.data) FAST_BENCH_CALL_GRAPH=dwarf;
#        e.g. FAST_BENCH_FILES=2000 FAST_BENCH_SCALE_FILES="1000 2000" for a smoke run)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FILES=${FAST_BENCH_FILES:-20000}
SIZE=${FAST_BENCH_SIZE:-102400}
read -ra READERS <<<"${FAST_BENCH_READERS:-64 256}"
read -ra DELAYS <<<"${FAST_BENCH_DELAYS:-0 10}"
read -ra MODES <<<"${FAST_BENCH_MODES:-none cross-file hints}"
read -ra WORKERS <<<"${FAST_BENCH_WORKERS:-1 2}"
MOUNT_WORKERS=${WORKERS[-1]}
read -ra SCALE <<<"${FAST_BENCH_SCALE_FILES:-5000 20000 80000}"
CACHE=${FAST_BENCH_CACHE:-4GiB}
PERF=${FAST_BENCH_PERF:-1}
PREFAULT=${FAST_BENCH_PREFAULT:-1}  # shoal mount --cache-prefault
CACHE_BYTES=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)([KMGT]?)i?B?', sys.argv[1]); print(int(m[1]) * 1024 ** ' KMGT'.index(m[2] or ' '))" "$CACHE")
TREE_FILES=$FILES
for n in "${SCALE[@]}"; do ((n > TREE_FILES)) && TREE_FILES=$n; done

build_release
WORK=$(mktemp -d /tmp/shoal-fast-bench.XXXXXX)
MNT=$WORK/mnt
NGINX_PID=
cleanup() {
  set +e  # every step runs, whatever failed before it
  mountpoint -q "$MNT" && "$SHOAL" umount "$MNT" >/dev/null 2>&1
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  mountpoint -q "$WORK/www" && umount "$WORK/www"
  rm -rf "$WORK"
}
trap cleanup EXIT
export SHOAL_RUN_DIR=$WORK/run SHOAL_INDEX_DIR=$WORK/indexes
mkdir -p "$MNT" "$WORK/www"
cc -O2 -pthread -o "$WORK/read_list" "$ROOT/bench/read_list.c"
mount -t tmpfs -o size=$((TREE_FILES * (SIZE + 4096) / 1048576 + 256))m shoal-fast-bench "$WORK/www"
TREE=$WORK/www/bucket/train

write_tree "$TREE" "$TREE_FILES" "$SIZE"
start_fast_store "$WORK"
for d in "${DELAYS[@]}"; do
  [[ $d == 0 || $d == 10 ]] || { echo "DELAYS: 0 and 10 (ms) are what the nginx config serves" >&2; exit 2; }
done
nginx_manifests "$WORK/www/bucket" "$WORK" "$TREE_FILES" "$FILES" "${SCALE[@]}"
for n in $(printf '%s\n' "$FILES" "${SCALE[@]}" | sort -un); do
  "$SHOAL" index build s3://bucket/train/ -o "$WORK/train-$n.shix" \
    --from-manifest "$WORK/manifest-$n.csv" --endpoint "$(endpoint_of 0)" --region us-east-1 >/dev/null
done

TICK=$(getconf CLK_TCK)
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
us_per_file() { python3 -c "print(f'{($2) * 1e6 / $TICK / $1:.0f}')"; }  # FILES TICKS
rate() { python3 -c "print(f'{$1 / $2:.0f}')"; }

# measure NAME FILES CMD…: runs CMD (which prints "FILES BYTES SECONDS" or nothing) under
# /usr/bin/time; sets SECONDS_, CMD_US (its own CPU per file), NGINX_US, MACHINE_US.
measure() {
  local n=$1; shift
  local m0 g0 m1 g1 out
  m0=$(machine_ticks); g0=$(proc_ticks "$NGINX_WORKER")
  local t0; t0=$(date +%s.%N)
  out=$(/usr/bin/time -f '%U %S' -o "$WORK/time" "$@")
  local t1; t1=$(date +%s.%N)
  m1=$(machine_ticks); g1=$(proc_ticks "$NGINX_WORKER")
  if [[ -n $out ]]; then
    read -r got bytes SECONDS_ <<<"$out"
    [[ $got == "$n" && $bytes == $((n * SIZE)) ]] || { echo "read $got files, $bytes bytes of $n" >&2; exit 1; }
  else
    SECONDS_=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  fi
  read -r u s <"$WORK/time"
  CMD_US=$(python3 -c "print(f'{($u + $s) * 1e6 / $n:.0f}')")
  NGINX_US=$(us_per_file "$n" "$g1 - $g0")
  MACHINE_US=$(us_per_file "$n" "$m1 - $m0")
}

curl_epoch() {  # N READERS DELAY
  awk -v url="$(endpoint_of "$3")/bucket/train" '{ printf "url = \"%s/%s\"\noutput = \"/dev/null\"\n", url, $0 }' \
    "$WORK/order-$1" >"$WORK/get.cfg"
  measure "$1" curl -sS --no-progress-meter --fail --parallel --parallel-max "$2" "${CURL_SIGV4[@]}" -K "$WORK/get.cfg"
}

# mount_volume N MODE DELAY → SHOALD_PID
mount_volume() {
  local mode=(--prefetch "$2")
  if [[ $2 == hints ]]; then
    printf '[prefetch]\nmode = "none"\nhints = "%s"\n' "$WORK/order-$1" >"$WORK/hints.toml"
    mode=(--config "$WORK/hints.toml")
  fi
  local line
  local prefault=()
  [[ $PREFAULT == 1 ]] && prefault=(--cache-prefault)
  line=$("$SHOAL" mount "$WORK/train-$1.shix" "$MNT" --endpoint "$(endpoint_of "$3")" --region us-east-1 \
    "${mode[@]}" --cache-memory "$CACHE" "${prefault[@]}" --workers "$MOUNT_WORKERS")
  SHOALD_PID=$(sed -n 's/.*shoald pid \([0-9]*\).*/\1/p' <<<"$line")
  [[ -n $SHOALD_PID ]] || { echo "no shoald pid in: $line" >&2; exit 1; }
  # A prefaulting daemon holds its whole budget once the pool's thread is done: the epoch
  # starts after it, as on a node whose volume was mounted before the job.
  if [[ $PREFAULT == 1 ]]; then
    local want_kb=$((CACHE_BYTES / 1024 * 98 / 100)) i
    for i in $(seq 600); do
      (($(awk '$1 == "VmRSS:" { print $2 }' "/proc/$SHOALD_PID/status") >= want_kb)) && break
      sleep 0.1
    done
  fi
}
gets_of_mount() { "$SHOAL" stats "$MNT" | awk '$1 == "shoal_engine_gets_total" { s += $2 } END { printf "%.0f", s }'; }

# shoal_epoch N READERS → a cold epoch on the current mount; sets SHOALD_US besides measure's.
shoal_epoch() {
  local d0 d1
  d0=$(proc_ticks "$SHOALD_PID")
  measure "$1" "$WORK/read_list" "$WORK/order-$1" "$2" "$MNT"
  d1=$(proc_ticks "$SHOALD_PID")
  SHOALD_US=$(us_per_file "$1" "$d1 - $d0")
}

RESULTS=$WORK/results.tsv
printf 'delay\treaders\tclient\tfiles_s\tclient_us\treader_us\tnginx_us\tmachine_us\tgets\n' >"$RESULTS"
for delay in "${DELAYS[@]}"; do
  for readers in "${READERS[@]}"; do
    curl_epoch "$FILES" "$readers" "$delay"
    printf '%s\t%s\tcurl\t%s\t%s\t-\t%s\t%s\t%s\n' "$delay" "$readers" "$(rate "$FILES" "$SECONDS_")" \
      "$CMD_US" "$NGINX_US" "$MACHINE_US" "$FILES" >>"$RESULTS"
    echo "+$delay ms, $readers readers: curl $(rate "$FILES" "$SECONDS_") files/s, $CMD_US µs/file"
    for mode in "${MODES[@]}"; do
      for MOUNT_WORKERS in "${WORKERS[@]}"; do
        mount_volume "$FILES" "$mode" "$delay"
        shoal_epoch "$FILES" "$readers"
        gets=$(gets_of_mount)
        "$SHOAL" umount "$MNT" >/dev/null
        client="shoal $mode, $MOUNT_WORKERS worker"
        ((MOUNT_WORKERS == 1)) || client+=s
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$delay" "$readers" "$client" \
          "$(rate "$FILES" "$SECONDS_")" "$SHOALD_US" "$CMD_US" "$NGINX_US" "$MACHINE_US" "$gets" >>"$RESULTS"
        echo "+$delay ms, $readers readers: $client $(rate "$FILES" "$SECONDS_") files/s, shoald $SHOALD_US µs/file, $gets GETs"
      done
    done
    MOUNT_WORKERS=${WORKERS[-1]}
  done
done

# Cost per file as the volume grows: direct mode, the first delay and reader count.
SCALE_RESULTS=$WORK/scale.tsv
: >"$SCALE_RESULTS"
for n in "${SCALE[@]}"; do
  mount_volume "$n" none "${DELAYS[0]}"
  shoal_epoch "$n" "${READERS[0]}"
  "$SHOAL" umount "$MNT" >/dev/null
  printf '%s\t%s\t%s\t%s\n' "$n" "$(rate "$n" "$SECONDS_")" "$SHOALD_US" "$MACHINE_US" >>"$SCALE_RESULTS"
  echo "$n files: $(rate "$n" "$SECONDS_") files/s, shoald $SHOALD_US µs/file"
done

# Warm epochs: shoald's cache (page cache dropped), the page cache, and tmpfs.
mount_volume "$FILES" none "${DELAYS[0]}"
shoal_epoch "$FILES" "${READERS[0]}"
sync; echo 3 >/proc/sys/vm/drop_caches
shoal_epoch "$FILES" "${READERS[0]}"; warm_daemon=$(rate "$FILES" "$SECONDS_"); warm_daemon_us=$SHOALD_US
shoal_epoch "$FILES" "${READERS[0]}"; warm_page=$(rate "$FILES" "$SECONDS_")
"$SHOAL" umount "$MNT" >/dev/null
measure "$FILES" "$WORK/read_list" "$WORK/order-$FILES" "${READERS[0]}" "$TREE"
tmpfs=$(rate "$FILES" "$SECONDS_")
echo "warm: shoald cache $warm_daemon files/s, page cache $warm_page, tmpfs $tmpfs"

PROFILE=$WORK/profile.txt
: >"$PROFILE"
if [[ $PERF == 1 ]] && command -v perf >/dev/null; then
  mount_volume "$FILES" none "${DELAYS[0]}"
  perf record -q -F 499 --call-graph "${FAST_BENCH_CALL_GRAPH:-fp}" -p "$SHOALD_PID" -o "$WORK/perf.data" >/dev/null 2>&1 &
  PERF_PID=$!
  sleep 0.5
  "$WORK/read_list" "$WORK/order-$FILES" "${READERS[0]}" "$MNT" >/dev/null
  kill -INT "$PERF_PID"; wait "$PERF_PID" || true
  "$SHOAL" umount "$MNT" >/dev/null
  [[ -n ${FAST_BENCH_PERF_OUT:-} ]] && cp "$WORK/perf.data" "$FAST_BENCH_PERF_OUT"
  perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1.5 \
    2>/dev/null | grep -E '^ +[0-9.]+%' | head -20 | sed -E 's/( +-)+ *$//; s/ +$//' >"$PROFILE"
fi

# Debian's python3, which has matplotlib (a python3 earlier on PATH may not).
/usr/bin/python3 - "$RESULTS" "$ROOT/docs/fast_store_bench.png" <<'PY'
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
delays = sorted({r["delay"] for r in rows}, key=int)
fig, axes = plt.subplots(1, len(delays), figsize=(5 * len(delays), 4), squeeze=False)
for ax, delay in zip(axes[0], delays):
    for client in dict.fromkeys(r["client"] for r in rows):
        pts = [(int(r["readers"]), float(r["files_s"])) for r in rows
               if r["delay"] == delay and r["client"] == client]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=client)
    ax.set_title(f"+{delay} ms per request")
    ax.set_xlabel("readers (curl: transfers in flight)")
    ax.set_ylabel("files/s")
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
PY

TABLE=$WORK/table.md
{
  echo "## A cold epoch against a fast store (nginx)"
  echo
  echo "\`bench/fast_store_bench.sh\`: $FILES files of $SIZE bytes in 100 directories, served by"
  echo "nginx $(nginx -v 2>&1 | sed 's|.*/||') (one worker, static files from tmpfs, path-style \`bucket/key\`) on"
  echo "loopback; +10 ms through the echo module's \`echo_sleep\`. The index comes from a manifest"
  echo "with nginx's ETags. Each file is read once, whole, in one random order: by \`curl"
  echo "--parallel --parallel-max R\` (signed with SigV4, as shoal signs), and by"
  echo "\`bench/read_list.c\` with R threads on a fresh \`shoal mount\` (FUSE image, Release build,"
  echo "\`--cache-memory $CACHE\`) in each prefetch mode. One run, $(date -u +%Y-%m-%d), $(nproc) cores;"
  echo "CPU per file in µs: the client's (shoald or curl), the reader's, nginx's and the whole"
  echo "machine's (everything: client, reader, nginx, kernel)."
  echo
  echo "| delay | readers | client | files/s | / curl | client µs/file | / curl | reader | nginx | machine µs/file | GETs |"
  echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  python3 - "$RESULTS" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
curl = {(r["delay"], r["readers"]): r for r in rows if r["client"] == "curl"}
for r in rows:
    c = curl[(r["delay"], r["readers"])]
    speed = float(r["files_s"]) / float(c["files_s"])
    cpu = float(r["client_us"]) / float(c["client_us"])
    print(f"| +{r['delay']} ms | {r['readers']} | {r['client']} | {r['files_s']} | {speed:.2f} | "
          f"{r['client_us']} | {cpu:.2f} | {r['reader_us']} | {r['nginx_us']} | {r['machine_us']} | {r['gets']} |")
PY
  echo
  echo "![files/s against readers](fast_store_bench.png)"
  echo
  echo "Cost per file as the volume grows (direct mode, $MOUNT_WORKERS workers, +${DELAYS[0]} ms, ${READERS[0]} readers):"
  echo
  echo "| files | files/s | shoald µs/file | machine µs/file |"
  echo "| ---: | ---: | ---: | ---: |"
  awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$SCALE_RESULTS"
  echo
  echo "Warm epochs (${READERS[0]} readers, $MOUNT_WORKERS workers): from shoald's cache with the page cache dropped"
  echo "$warm_daemon files/s (shoald $warm_daemon_us µs/file, $(python3 -c "print(f'{$warm_daemon / $tmpfs:.2f}')")× tmpfs);"
  echo "from the page cache $warm_page files/s ($(python3 -c "print(f'{$warm_page / $tmpfs:.2f}')")× tmpfs); the same tree on tmpfs $tmpfs files/s."
  if [[ -s $PROFILE ]]; then
    echo
    echo "Where shoald spends its time in a cold direct epoch ($MOUNT_WORKERS workers; \`perf record -g\`, self time, top symbols):"
    echo
    echo '```'
    cat "$PROFILE"
    echo '```'
  fi
} >"$TABLE"
cat "$TABLE"
write_section fast-store-bench "$TABLE"
