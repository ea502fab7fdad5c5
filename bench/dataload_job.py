#!/usr/bin/env python3
"""The dataload benchmark's job: shuffled DataLoader epochs over a directory, decode-free.

Each epoch draws one shuffle (the same seed on every client, so every volume sees the same
order) and reads every file once through a DataLoader with --workers processes and batches of
--batch. --hinted wraps the shuffle in shoal.torch.HintedSampler, which hands the epoch's order
to shoald before the workers start. Prints one line per epoch:
    epoch N FILES BYTES SECONDS
SECONDS is the dataload time: from asking for the first batch to having the last.
"""
import argparse
import sys
import time
import warnings

import torch
from torch.utils.data import DataLoader, RandomSampler

from shoal.torch import FileDataset, HintedSampler


def sizes(batch):
    # Decode-free: the job only needs the bytes to have arrived.
    return torch.tensor([len(b) for b in batch], dtype=torch.int64)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hinted", action="store_true")
    args = p.parse_args()
    # The job's parallelism is the benchmark's variable, whatever the core count.
    warnings.filterwarnings("ignore", message="This DataLoader will create")

    dataset = FileDataset(args.data)
    shuffle = RandomSampler(dataset, generator=torch.Generator().manual_seed(args.seed))
    sampler = HintedSampler(shuffle, dataset.paths) if args.hinted else shuffle
    loader = DataLoader(dataset, batch_size=args.batch, sampler=sampler,
                        num_workers=args.workers, collate_fn=sizes, persistent_workers=True)
    for epoch in range(1, args.epochs + 1):
        files = total = 0
        started = time.perf_counter()
        for batch in loader:
            files += len(batch)
            total += int(batch.sum())
        seconds = time.perf_counter() - started
        if files != len(dataset):
            sys.exit(f"epoch {epoch} read {files} of {len(dataset)} files")
        print(f"epoch {epoch} {files} {total} {seconds:.3f}", flush=True)


if __name__ == "__main__":
    main()
