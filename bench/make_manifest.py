#!/usr/bin/env python3
"""Writes an ImageNet-like inventory manifest: train/nXXXXXXXX/nXXXXXXXX_NNNNN.JPEG keys in
1,000 class directories, sizes 20-200 KB, CSV key,size,etag,mtime (RFC 4180, as an OSS / S3
Inventory report lists them). Usage: make_manifest.py LINES OUT"""
import hashlib
import random
import sys

lines, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
classes = sorted({rng.randrange(1_000_000, 16_000_000) for _ in range(1500)})[:1000]
per_class = -(-lines // len(classes))
with open(out, "w", newline="") as f:
    f.write("key,size,etag,mtime\n")
    n = 0
    for c in classes:
        for i in range(per_class):
            if n == lines:
                break
            key = f"train/n{c:08d}/n{c:08d}_{i + 1:05d}.JPEG"
            etag = hashlib.md5(key.encode()).hexdigest()
            f.write(f'{key},{rng.randrange(20_000, 200_001)},"{etag}",2026-01-02T03:04:05.000Z\n')
            n += 1
