#!/usr/bin/env python3
"""Trains a small classifier on an MNIST-like data set read from a shoal mount.

The data set is one raw 28x28 uint8 image per file, in directories named class-<label>. The
DataLoader's shuffle goes through shoal.torch.HintedSampler, which hands each epoch's order to
shoald before the workers start reading, so the volume fetches the files in that order ahead of
them. Every --every steps a checkpoint is written into --ckpt-dir (watched by `shoal writer`),
keeping the newest --keep locally as max_to_keep does; at the end the writer is asked to flush
and the script prints "dataload cost time: X s" (time spent waiting for batches).
"""
import argparse
import hashlib
import os
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

import shoal
from shoal.torch import FileDataset, HintedSampler


def collate(batch):
    images = torch.stack([torch.frombuffer(bytearray(data), dtype=torch.uint8)
                          for _, data in batch])
    # The label is the class directory's number: .../class-7/img-00017.raw
    labels = torch.tensor([int(os.path.basename(os.path.dirname(path)).split("-")[1])
                           for path, _ in batch])
    return images.float().div_(255).view(-1, 1, 28, 28), labels


def save_checkpoint(ckpt_dir, step, model, optimizer, keep):
    path = os.path.join(ckpt_dir, f"model-{step:06d}.pt")
    # Written under a name the writer ignores and renamed: it takes the whole file, once.
    temp = path + ".tmp"
    torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
               temp)
    os.replace(temp, path)
    kept = sorted(n for n in os.listdir(ckpt_dir) if n.startswith("model-") and n.endswith(".pt"))
    for name in kept[:-keep]:
        os.remove(os.path.join(ckpt_dir, name))
    with open(path, "rb") as f:
        print(f"saved {os.path.basename(path)} {hashlib.sha256(f.read()).hexdigest()}", flush=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the data set on a shoal mount")
    parser.add_argument("--ckpt-dir", required=True, help="where checkpoints go (watched)")
    parser.add_argument("--writer-socket", required=True, help="shoal writer's control socket")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50, help="checkpoint every N steps")
    parser.add_argument("--keep", type=int, default=2, help="checkpoints kept locally")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    dataset = FileDataset(args.data, with_paths=True)
    shuffle = RandomSampler(dataset, generator=torch.Generator().manual_seed(args.seed))
    sampler = HintedSampler(shuffle, dataset.paths)
    loader = DataLoader(dataset, batch_size=args.batch, sampler=sampler,
                        num_workers=args.workers, collate_fn=collate, persistent_workers=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    os.makedirs(args.ckpt_dir, exist_ok=True)

    step, epoch, waited, last, correct, seen = 0, 0, 0.0, None, 0, 0
    while step < args.steps:
        batches = iter(loader)  # the sampler hints this epoch's order here
        epoch += 1
        while step < args.steps:
            started = time.perf_counter()
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            waited += time.perf_counter() - started
            optimizer.zero_grad()
            logits = model(images)
            loss = loss_fn(logits, labels)
            loss.backward()
            optimizer.step()
            step += 1
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
            if step % args.every == 0:
                last = save_checkpoint(args.ckpt_dir, step, model, optimizer, args.keep)
                print(f"step {step} epoch {epoch} loss {loss.item():.4f} "
                      f"accuracy {correct / seen:.3f}", flush=True)
                correct = seen = 0
    report = sampler.last_report
    print(f"hinted {report.matched} paths an epoch ({report.unknown} unknown) on "
          f"{sampler.volume.mountpoint}")

    writer = shoal.Writer(args.writer_socket)
    if last is not None:
        # A watched file is taken when the writer reads its event, which may come after the
        # flush below was asked for; handing the last checkpoint over is acknowledged.
        writer.put(last)
    writer.flush(wait=True, timeout=120)
    print(f"trained {step} steps in {epoch} epochs; the writer has every checkpoint durable")
    print(f"dataload cost time: {waited:.3f} s")


if __name__ == "__main__":
    main()
