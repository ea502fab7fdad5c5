#!/usr/bin/env bash
# A PyTorch job's dataload time (bench/dataload_job.py: shuffled DataLoader epochs, batches of
# 64, decode-free), side by side in one run:
#   fast store: nginx (bench/lib.sh start_fast_store) with 10 ms added per request, FILES files;
#     shoal mount with the hinted sampler (shoal.torch.HintedSampler, --prefetch none), with
#     cross-file prefetch and direct (--prefetch none, no hints), for each DataLoader worker
#     count of JOB_WORKERS; two epochs each (the second is warm); and the GET ceiling: curl
#     --parallel at the GETs in flight shoald allows (max_inflight, 128), same order;
#   s3rver (+10 ms through bench/delay_proxy.py), S3RVER_FILES files: shoal in the same three
#     modes, s3fs (kernel_cache, max_stat_cache_size=10000, read-only) and rclone mount
#     (read-only), with the first worker count;
#   tmpfs: the same job over the tree in memory, the ceiling of a warm epoch.
# Writes the section dataload-bench of docs/BENCHMARKS.md.
# Usage: bench/dataload_bench.sh  (env: DATALOAD_FILES=20000 DATALOAD_SIZE=102400
#        DATALOAD_JOB_WORKERS="8 2" DATALOAD_S3RVER_FILES=5000 DATALOAD_CACHE=4GiB;
#        DATALOAD_S3RVER_FILES=0 skips the s3rver part)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FILES=${DATALOAD_FILES:-20000}
SIZE=${DATALOAD_SIZE:-102400}
read -ra JOB_WORKERS <<<"${DATALOAD_JOB_WORKERS:-8 2}"
S3RVER_FILES=${DATALOAD_S3RVER_FILES:-5000}
CACHE=${DATALOAD_CACHE:-4GiB}
INFLIGHT=128  # shoald's default [fetch] max_inflight: the curl ceiling runs at the same count
PY=/usr/bin/python3  # Debian's, with python3-torch
export PYTHONPATH=$ROOT/python

build_release
WORK=$(mktemp -d /tmp/shoal-dataload-bench.XXXXXX)
MNT=$WORK/mnt
NGINX_PID= PROXY_PID=
cleanup() {
  local status=$?
  set +e
  ((status == 0)) || for log in "$WORK/rclone.log" "$WORK/proxy.log"; do
    [[ -s $log ]] && { echo "--- $log" >&2; tail -5 "$log" >&2; }
  done
  for m in "$MNT" "$WORK/s3fs" "$WORK/rclone"; do
    mountpoint -q "$m" || continue
    [[ $m == "$MNT" ]] && "$SHOAL" umount "$m" >/dev/null 2>&1 || fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
  done
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  [[ -n $PROXY_PID ]] && kill "$PROXY_PID" 2>/dev/null
  stop_s3rver
  mountpoint -q "$WORK/www" && umount "$WORK/www"
  rm -rf "$WORK"
}
trap cleanup EXIT
export SHOAL_RUN_DIR=$WORK/run SHOAL_INDEX_DIR=$WORK/indexes
mkdir -p "$MNT" "$WORK/www" "$WORK/s3fs" "$WORK/rclone"
mount -t tmpfs -o size=$((FILES * (SIZE + 4096) / 1048576 + 256))m shoal-dataload "$WORK/www"
TREE=$WORK/www/bucket/train
write_tree "$TREE" "$FILES" "$SIZE"
start_fast_store "$WORK"
nginx_manifests "$WORK/www/bucket" "$WORK" "$FILES" "$FILES"
"$SHOAL" index build s3://bucket/train/ -o "$WORK/fast.shix" --from-manifest "$WORK/manifest-$FILES.csv" \
  --endpoint "$(endpoint_of 0)" --region us-east-1 >/dev/null

RESULTS=$WORK/results.tsv
printf 'store\tjob_workers\tclient\tepoch1_s\tepoch2_s\tgets\n' >"$RESULTS"
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; echo "$*"; }

# job DIR WORKERS [--hinted] → EPOCH1 EPOCH2 (seconds), checking every file arrived whole.
job() {
  local dir=$1 workers=$2; shift 2
  local out
  out=$("$PY" "$ROOT/bench/dataload_job.py" --data "$dir" --workers "$workers" --epochs 2 "$@")
  local files bytes
  read -r _ _ files bytes EPOCH1 <<<"$(sed -n 1p <<<"$out")"
  read -r _ _ _ _ EPOCH2 <<<"$(sed -n 2p <<<"$out")"
  [[ $bytes == $((files * SIZE)) ]] || { echo "the job read $bytes bytes of $files files" >&2; exit 1; }
}
gets_of_mount() { "$SHOAL" stats "$MNT" | awk '$1 == "shoal_engine_gets_total" { s += $2 } END { printf "%.0f", s }'; }

# shoal_run STORE WORKERS INDEX ENDPOINT MODE: a fresh mount, the job's two epochs, unmounted.
shoal_run() {
  local store=$1 workers=$2 index=$3 endpoint=$4 mode=$5
  local prefetch=$mode hinted=()
  [[ $mode == hinted ]] && { prefetch=none; hinted=(--hinted); }
  [[ $mode == direct ]] && prefetch=none
  "$SHOAL" mount "$index" "$MNT" --endpoint "$endpoint" --region us-east-1 --prefetch "$prefetch" \
    --cache-memory "$CACHE" >/dev/null
  job "$MNT" "$workers" "${hinted[@]}"
  local gets; gets=$(gets_of_mount)
  "$SHOAL" umount "$MNT" >/dev/null
  record "$store" "$workers" "shoal $mode" "$EPOCH1" "$EPOCH2" "$gets"
}

# The GET ceiling: curl at shoald's in-flight count, the job's first epoch's order.
"$PY" - "$TREE" "$WORK/order" <<'PY'
import sys, torch
from torch.utils.data import RandomSampler
from shoal.torch import FileDataset
ds = FileDataset(sys.argv[1])
order = list(RandomSampler(ds, generator=torch.Generator().manual_seed(1)))
root = ds.root.rsplit("/train", 1)[0]
open(sys.argv[2], "w").write("\n".join(ds.paths[i][len(root) + 1:] for i in order) + "\n")
PY
awk -v url="$(endpoint_of 10)/bucket" '{ printf "url = \"%s/%s\"\noutput = \"/dev/null\"\n", url, $0 }' \
  "$WORK/order" >"$WORK/get.cfg"
t0=$(date +%s.%N)
curl -sS --no-progress-meter --fail --parallel --parallel-max "$INFLIGHT" "${CURL_SIGV4[@]}" -K "$WORK/get.cfg"
t1=$(date +%s.%N)
record fast - "curl ceiling ($INFLIGHT in flight)" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")" - "$FILES"

for w in "${JOB_WORKERS[@]}"; do
  for mode in hinted cross-file direct; do
    shoal_run fast "$w" "$WORK/fast.shix" "$(endpoint_of 10)" "$mode"
  done
  job "$TREE" "$w"
  record tmpfs "$w" tmpfs "$EPOCH1" "$EPOCH2" -
done

if ((S3RVER_FILES > 0)); then
  start_s3rver "$WORK/s3" bucket
  PROXY_PORT=$(free_port)
  python3 "$ROOT/bench/delay_proxy.py" "$PROXY_PORT" "$S3_PORT" 10 >"$WORK/proxy.log" &
  PROXY_PID=$!
  for _ in $(seq 100); do grep -q ready "$WORK/proxy.log" && break; sleep 0.1; done
  DIRECT=http://127.0.0.1:$S3_PORT PROXIED=http://127.0.0.1:$PROXY_PORT
  echo "uploading $S3RVER_FILES files to s3rver"
  # awk reads to the end (head would leave sort a closed pipe, which pipefail reports).
  (cd "$WORK/www/bucket" && find train -type f | sort | awk -v n="$S3RVER_FILES" 'NR <= n') >"$WORK/keys"
  awk -v dir="$WORK/www/bucket" -v url="$DIRECT/bucket" \
    '{ printf "upload-file = \"%s/%s\"\nurl = \"%s/%s\"\noutput = \"/dev/null\"\n", dir, $0, url, $0 }' \
    "$WORK/keys" >"$WORK/put.cfg"
  curl -sS --no-progress-meter --fail --parallel --parallel-max 32 -K "$WORK/put.cfg"
  mkdir -p "$WORK/small"
  (cd "$WORK/www/bucket" && xargs -a "$WORK/keys" cp --parents -t "$WORK/small")
  "$SHOAL" index build s3://bucket/train/ -o "$WORK/s3rver.shix" --endpoint "$DIRECT" --region us-east-1 >/dev/null
  w=${JOB_WORKERS[0]}
  for mode in hinted cross-file direct; do
    shoal_run s3rver "$w" "$WORK/s3rver.shix" "$PROXIED" "$mode"
  done
  echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$WORK/passwd"; chmod 600 "$WORK/passwd"
  s3fs bucket "$WORK/s3fs" -o url="$PROXIED" -o use_path_request_style -o passwd_file="$WORK/passwd" \
    -o kernel_cache -o max_stat_cache_size=10000 -o ro -o endpoint=us-east-1
  job "$WORK/s3fs/train" "$w"
  fusermount3 -u "$WORK/s3fs" 2>/dev/null || umount "$WORK/s3fs"
  record s3rver "$w" "s3fs" "$EPOCH1" "$EPOCH2" -
  # rclone's AWS SDK cannot combine a CA bundle (AWS_CA_BUNDLE, which shoal honours too) with
  # its own HTTP transport, and s3rver is plain HTTP anyway. The mount is of train/: s3rver
  # answers a delimited listing with an empty `prefix=` with nothing at all.
  RCLONE_CONFIG_S3RVER_TYPE=s3 RCLONE_CONFIG_S3RVER_PROVIDER=Other RCLONE_CONFIG_S3RVER_ENDPOINT=$PROXIED \
    RCLONE_CONFIG_S3RVER_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_S3RVER_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    RCLONE_CONFIG_S3RVER_FORCE_PATH_STYLE=true env -u AWS_CA_BUNDLE rclone mount s3rver:bucket/train "$WORK/rclone" --read-only --daemon \
    --daemon-wait 30s --log-file "$WORK/rclone.log"
  job "$WORK/rclone" "$w"
  fusermount3 -u "$WORK/rclone" 2>/dev/null || umount "$WORK/rclone"
  record s3rver "$w" "rclone mount" "$EPOCH1" "$EPOCH2" -
  job "$WORK/small/train" "$w"
  record s3rver "$w" tmpfs "$EPOCH1" "$EPOCH2" -
fi

TABLE=$WORK/table.md
{
  echo "## A PyTorch job's dataload time"
  echo
  echo "\`bench/dataload_bench.sh\`: \`bench/dataload_job.py\`, a shuffled DataLoader epoch (batches of"
  echo "64, decode-free, the same shuffle for every client) over $FILES files of $SIZE bytes on nginx"
  echo "with 10 ms added per request, and over the first $S3RVER_FILES of them on s3rver behind"
  echo "\`bench/delay_proxy.py\` (10 ms). \`shoal hinted\`: \`shoal.torch.HintedSampler\` hands each epoch's"
  echo "order to shoald (\`--prefetch none\` otherwise); \`cross-file\` and \`direct\` are the prefetch"
  echo "modes without hints. Every shoal row is a fresh mount (\`--cache-memory $CACHE\`); epoch 2"
  echo "draws a new shuffle and is served from the cache. The curl ceiling: the same GETs as epoch 1"
  echo "at the $INFLIGHT GETs in flight shoald allows. One run, $(date -u +%Y-%m-%d), $(nproc) cores."
  echo
  echo "| store | job workers | client | epoch 1 s | files/s | / ceiling | epoch 2 s | / tmpfs | GETs |"
  echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  python3 - "$RESULTS" "$FILES" "$S3RVER_FILES" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
files = {"fast": int(sys.argv[2]), "tmpfs": int(sys.argv[2]), "s3rver": int(sys.argv[3])}
ceiling = next(float(r["epoch1_s"]) for r in rows if r["client"].startswith("curl"))
tmpfs = {(r["store"], r["job_workers"]): float(r["epoch2_s"]) for r in rows if r["client"] == "tmpfs"}
for r in rows:
    n = files[r["store"]]
    e1 = float(r["epoch1_s"])
    vs_ceiling = f"{ceiling / e1:.2f}" if r["store"] == "fast" else ""
    e2 = r["epoch2_s"]
    base = tmpfs.get(("tmpfs" if r["store"] == "fast" else "s3rver", r["job_workers"]))
    vs_tmpfs = f"{float(e2) / base:.1f}×" if e2 != "-" and base and r["client"] != "tmpfs" else ""
    print(f"| {r['store']} | {r['job_workers']} | {r['client']} | {e1:.2f} | {n / e1:.0f} | {vs_ceiling} | "
          f"{e2} | {vs_tmpfs} | {r['gets']} |")
PY
} >"$TABLE"
cat "$TABLE"
write_section dataload-bench "$TABLE"
