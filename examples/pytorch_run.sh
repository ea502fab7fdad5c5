#!/usr/bin/env bash
# examples/pytorch_train.py end to end on this machine, with the file:// backend standing in for
# the bucket: an MNIST-like data set (28x28 uint8 images, one raw file each, in class
# directories) is put in the "bucket", indexed and mounted with `shoal mount`; the job trains on
# it through shoal.torch.HintedSampler (each epoch's shuffle handed to shoald first) and writes
# checkpoints into a directory `shoal writer` watches, keeping the newest few locally; at the end
# it flushes the writer. Then this script checks that the bucket holds every checkpoint the job
# saved, the final ones byte for byte as they are on disk.
#
# Usage: examples/pytorch_run.sh [--steps N]   (root: it mounts; needs PyTorch: python3-torch).
# SHOAL_BUILD=DIR uses binaries already built there instead of building Release into
# build/demo; PYTHON=… picks the interpreter (default /usr/bin/python3, which has python3-torch).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEPS=150
[[ ${1:-} == --steps ]] && STEPS=$2
PYTHON=${PYTHON:-/usr/bin/python3}

source "$ROOT/examples/lib.sh"
use_shoal
export PYTHONPATH=$ROOT/python${PYTHONPATH:+:$PYTHONPATH} PYTHONDONTWRITEBYTECODE=1

WORK=$(mktemp -d /tmp/shoal-pytorch-XXXXXX)
export SHOAL_RUN_DIR=$WORK/run  # mount state of its own, not /run/shoal
BUCKET=$WORK/bucket MNT=$WORK/mnt CKPT=$WORK/ckpt
WRITER_PID=
trap example_cleanup EXIT
mkdir -p "$BUCKET/data" "$BUCKET/run1" "$MNT" "$CKPT"

echo "example: an MNIST-like data set of 2,000 images in 10 classes"
"$PYTHON" - "$BUCKET/data/train" <<'PY'
import os, random, sys
root, rng = sys.argv[1], random.Random(0)
for i in range(2000):
    label = i % 10
    pixels = bytearray(rng.randrange(0, 140) for _ in range(28 * 28))
    for row in range(2 * label + 4, 2 * label + 7):  # each class brightens its own rows
        for col in range(28):
            pixels[row * 28 + col] = rng.randrange(110, 256)
    os.makedirs(f"{root}/class-{label}", exist_ok=True)
    with open(f"{root}/class-{label}/img-{i:05d}.raw", "wb") as f:
        f.write(pixels)
PY
"$SHOAL" index build "file://$BUCKET/data/" -o "$WORK/dataset.shix" >/dev/null
"$SHOAL" mount "$WORK/dataset.shix" "$MNT"

cat >"$WORK/writer.toml" <<END
watch = ["$CKPT"]
destination = "file://$BUCKET/run1/"
journal = "$WORK/writer.journal"
spool = "$WORK/spool"   # same file system as the checkpoints: hard links, no copies
END
"$SHOAL" writer --config "$WORK/writer.toml" 2>"$WORK/writer.log" &
WRITER_PID=$!
for _ in $(seq 100); do "$SHOAL" writer status --config "$WORK/writer.toml" >/dev/null 2>&1 && break; sleep 0.1; done

echo "example: training $STEPS steps on $MNT, checkpoints into $CKPT"
"$PYTHON" "$ROOT/examples/pytorch_train.py" --data "$MNT/train" --ckpt-dir "$CKPT" \
  --writer-socket "$WORK/writer.journal.sock" --steps "$STEPS" --every 50 --keep 2 >"$WORK/job.out"
grep -E "^(step|hinted|trained|dataload)" "$WORK/job.out"

echo "example: checking the bucket against what the job wrote"
"$PYTHON" - "$WORK/job.out" "$CKPT" "$BUCKET/run1" <<'PY'
import hashlib, os, sys
job_out, local, remote = sys.argv[1:4]
saved = dict(line.split()[1:3] for line in open(job_out) if line.startswith("saved "))
def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
errors = [f"missing or different in the bucket: {n}" for n, d in saved.items()
          if not os.path.isfile(os.path.join(remote, n)) or sha(os.path.join(remote, n)) != d]
kept = sorted(os.listdir(local))
errors += [f"{n} on disk differs from the bucket's" for n in kept
           if not os.path.isfile(os.path.join(remote, n)) or
           sha(os.path.join(local, n)) != sha(os.path.join(remote, n))]
if not saved or len(kept) != min(2, len(saved)):
    errors.append(f"expected the newest 2 of {sorted(saved)} on disk, found {kept}")
for e in errors:
    print("example: FAILED:", e)
if errors:
    sys.exit(1)
print(f"example: all {len(saved)} checkpoints are in the bucket; the final ones {kept} "
      "byte for byte")
PY
"$SHOAL" umount "$MNT"
echo "example: ok"
