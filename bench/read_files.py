#!/usr/bin/env python3
"""Reads every regular file under ROOT once, whole, from THREADS threads sharing one random
order (seeded, so every run reads the same order), and prints "FILES BYTES SECONDS". Only the
reads are timed: the file list is walked first. The reader of bench/mount_bench.sh, the same
for a shoal mount and for tmpfs. Usage: read_files.py ROOT THREADS [SEED]"""
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

root, threads = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
paths = sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)
random.Random(seed).shuffle(paths)


def read_whole(path):
    with open(path, "rb", buffering=0) as f:
        size = 0
        while chunk := f.read(1 << 20):
            size += len(chunk)
        return size


start = time.monotonic()
with ThreadPoolExecutor(threads) as pool:
    total = sum(pool.map(read_whole, paths, chunksize=8))
print(len(paths), total, f"{time.monotonic() - start:.3f}")
