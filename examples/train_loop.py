#!/usr/bin/env python3
"""A stand-in for a training job, Python standard library only.

Each step reads a batch of files from the data set (in a shuffled order, epoch after epoch),
folds their bytes into a "model state", and every --every steps writes a multi-file checkpoint
into --ckpt-dir the way TensorFlow does (model.ckpt-<step>.index, .data-0000N-of-0000M, and a
`checkpoint` file naming the latest), then deletes all but the newest --keep generations, as
max_to_keep does. It also appends a line per step to --log. For each checkpoint file it prints
"wrote <name> <sha256>", so whoever runs it can check what reached the object store.
"""
import argparse
import hashlib
import os
import random
import sys


def data_files(root):
    files = []
    for directory, _, names in os.walk(root):
        files.extend(os.path.join(directory, name) for name in names)
    if not files:
        sys.exit(f"train_loop: no files under {root}")
    return sorted(files)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(ckpt_dir, step, state, shards):
    """Writes one generation; returns {name: sha256}."""
    written = {}
    seed = random.Random(state.digest() + step.to_bytes(8, "little"))
    for shard in range(shards):
        name = f"model.ckpt-{step}.data-{shard:05d}-of-{shards:05d}"
        size = seed.randrange(64 << 10, 3 << 20)
        written[name] = write_file(os.path.join(ckpt_dir, name), seed.randbytes(size))
    index = f"model.ckpt-{step}.index"
    written[index] = write_file(os.path.join(ckpt_dir, index), state.hexdigest().encode() + b"\n")
    # Rewritten in place every time, like TensorFlow's: the writer takes each version.
    pointer = f'model_checkpoint_path: "model.ckpt-{step}"\n'.encode()
    written["checkpoint"] = write_file(os.path.join(ckpt_dir, "checkpoint"), pointer)
    return written


def drop_old_generations(ckpt_dir, keep):
    steps = sorted({int(n.split("-")[1].split(".")[0]) for n in os.listdir(ckpt_dir)
                    if n.startswith("model.ckpt-")})
    for step in steps[:-keep]:
        for name in os.listdir(ckpt_dir):
            if name.startswith(f"model.ckpt-{step}."):
                os.remove(os.path.join(ckpt_dir, name))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="data set directory (e.g. a shoal mount)")
    parser.add_argument("--ckpt-dir", required=True, help="where checkpoints go (watched)")
    parser.add_argument("--log", required=True, help="training log, appended to")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--every", type=int, default=5, help="checkpoint every N steps")
    parser.add_argument("--shards", type=int, default=2, help="data files per checkpoint")
    parser.add_argument("--keep", type=int, default=1, help="generations kept locally")
    args = parser.parse_args()

    files = data_files(args.data)
    order = random.Random(0)
    epoch = list(files)
    state = hashlib.sha256()
    read_bytes = 0
    os.makedirs(args.ckpt_dir, exist_ok=True)
    for step in range(1, args.steps + 1):
        for _ in range(args.batch):
            if not epoch:
                epoch = list(files)
            if len(epoch) == len(files):
                order.shuffle(epoch)
            with open(epoch.pop(), "rb") as f:
                data = f.read()
            state.update(data)
            read_bytes += len(data)
        with open(args.log, "a") as log:
            log.write(f"step {step} read {read_bytes} bytes state {state.hexdigest()[:16]}\n")
        if step % args.every == 0:
            for name, digest in save_checkpoint(args.ckpt_dir, step, state, args.shards).items():
                print(f"wrote {name} {digest}", flush=True)
            drop_old_generations(args.ckpt_dir, args.keep)
    print(f"trained {args.steps} steps over {len(files)} files, {read_bytes} bytes read")


if __name__ == "__main__":
    main()
