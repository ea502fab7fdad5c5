#!/usr/bin/env bash
# The read/write-splitting pattern end to end on this machine, with the file:// backend standing
# in for the bucket: a data set indexed and mounted read-only with `shoal mount`, a training loop
# (examples/train_loop.py) reading it and writing a checkpoint every few steps into a directory
# that `shoal writer` watches (only the newest generation kept locally, the newest two
# remotely), a growing log followed in append mode, and `shoal writer flush --wait` at the end.
# Then it checks that what reached the "bucket" is byte for byte what the job wrote.
#
# Usage: examples/run.sh [--steps N]   (root: it mounts). SHOAL_BUILD=DIR uses binaries already
# built there (DIR/tools/shoal, DIR/tools/shoald) instead of building Release into build/demo.
# For a real bucket, swap the file:// URIs for oss://… or s3://… (see the README).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEPS=20
[[ ${1:-} == --steps ]] && STEPS=$2

source "$ROOT/examples/lib.sh"
use_shoal

WORK=$(mktemp -d /tmp/shoal-example-XXXXXX)
export SHOAL_RUN_DIR=$WORK/run  # mount state of its own, not /run/shoal
DATA=$WORK/dataset BUCKET=$WORK/bucket MNT=$WORK/mnt CKPT=$WORK/ckpt LOGS=$WORK/logs
WRITER_PID=
trap example_cleanup EXIT
mkdir -p "$DATA" "$BUCKET/run1" "$MNT" "$CKPT" "$LOGS"

echo "example: a data set of 200 files in 10 classes"
for c in $(seq -w 0 9); do
  mkdir -p "$DATA/train/class-$c"
  for i in $(seq -w 0 19); do head -c $((2000 + RANDOM)) /dev/urandom >"$DATA/train/class-$c/img-$i.jpg"; done
done
"$SHOAL" index build "file://$DATA" -o "$WORK/dataset.shix" >/dev/null
"$SHOAL" mount "$WORK/dataset.shix" "$MNT"

: >"$LOGS/train.log"
cat >"$WORK/writer.toml" <<END
watch = ["$CKPT"]
destination = "file://$BUCKET/run1/"
journal = "$WORK/writer.journal"
spool = "$WORK/spool"   # same file system as the checkpoints: hard links, no copies
[retention]
keep = 2
pattern = 'model\.ckpt-(\d+)'
[[append]]
file = "$LOGS/train.log"
key = "logs/train.log"
poll_ms = 100
END
"$SHOAL" writer --config "$WORK/writer.toml" 2>"$WORK/writer.log" &
WRITER_PID=$!
for _ in $(seq 100); do "$SHOAL" writer status --config "$WORK/writer.toml" >/dev/null 2>&1 && break; sleep 0.1; done

echo "example: training $STEPS steps on $MNT, checkpoints into $CKPT"
python3 "$ROOT/examples/train_loop.py" --data "$MNT/train" --ckpt-dir "$CKPT" \
  --log "$LOGS/train.log" --steps "$STEPS" --every 5 --keep 1 >"$WORK/job.out"
tail -1 "$WORK/job.out"
"$SHOAL" writer flush --wait --timeout 120 --config "$WORK/writer.toml"
"$SHOAL" writer status --config "$WORK/writer.toml"

echo "example: checking the bucket against what the job wrote"
python3 - "$WORK/job.out" "$BUCKET/run1" "$LOGS/train.log" <<'PY'
import hashlib, os, re, sys, time
job_out, remote, log = sys.argv[1:4]
wrote = {}
for line in open(job_out):
    if line.startswith("wrote "):
        _, name, digest = line.split()
        wrote[name] = digest  # the last version of a rewritten file wins
steps = sorted({int(m.group(1)) for n in wrote if (m := re.match(r"model\.ckpt-(\d+)\.", n))})
kept = {n: d for n, d in wrote.items()
        if not n.startswith("model.ckpt-") or int(n.split("-")[1].split(".")[0]) in steps[-2:]}
def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()
deadline = time.time() + 30  # retention deletes the older generations right after flush
while True:
    present = {n for n in os.listdir(remote) if os.path.isfile(os.path.join(remote, n))}
    if present == set(kept) or time.time() > deadline:
        break
    time.sleep(0.2)
errors = [f"missing or different: {n}" for n, d in kept.items()
          if n not in present or sha(os.path.join(remote, n)) != d]
errors += [f"not deleted by retention: {n}" for n in sorted(present - set(kept))]
if sha(os.path.join(remote, "logs", "train.log")) != sha(log):
    errors.append("logs/train.log differs from the job's log")
for e in errors:
    print("example: FAILED:", e)
if errors:
    sys.exit(1)
print(f"example: {len(kept)} checkpoint files of generations {steps[-2:]} and the log arrived "
      f"byte-identical; {len(steps) - 2} older generations retired")
PY
"$SHOAL" umount "$MNT"
echo "example: ok"
