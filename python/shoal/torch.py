"""PyTorch glue: a sampler that tells shoald each epoch's order before the epoch starts, and a
dataset over a directory tree.

A shuffled epoch looks random to any prefetcher that only sees the reads; the sampler knows
the whole order in advance. HintedSampler hands that order to the volume (Volume.set_hints)
when the DataLoader starts the epoch, so shoald fetches the files ahead of the workers in the
order they will ask for them, and then yields exactly the wrapped sampler's indices.
"""
import os
import warnings

import torch.utils.data as _data

from .errors import ShoalError
from .volume import Volume

# shoald takes a hint list of up to 64 MiB (about a million paths). A longer epoch hints its
# first part; the rest is read with the volume's ordinary prefetch.
DEFAULT_MAX_HINTS = 500_000
HINT_BYTES = 60 << 20


def _flat(order):
    for item in order:
        if isinstance(item, (list, tuple)):  # a batch sampler's batches
            yield from item
        else:
            yield item


class HintedSampler(_data.Sampler):
    """Wraps `sampler`; each __iter__ takes its whole order, hints the paths, yields it.

    `paths_of` maps an index to its file's path: a callable, or a sequence indexed by it (e.g.
    FileDataset.paths). `volume` is a shoal.Volume; by default the one the first path is on.
    With DistributedSampler, wrap each rank's sampler: each rank hints its own shard. Hinting
    errors (a daemon gone, a path not on a volume) raise unless strict=False, which warns and
    goes on without hints. The last epoch's HintReport is in `last_report`.
    """

    def __init__(self, sampler, paths_of, volume=None, strict=True, max_hints=DEFAULT_MAX_HINTS):
        self.sampler = sampler
        self.paths_of = paths_of if callable(paths_of) else paths_of.__getitem__
        self.volume = volume
        self.strict = strict
        self.max_hints = max_hints
        self.last_report = None

    def __len__(self):
        return len(self.sampler)

    def set_epoch(self, epoch):
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        # Materialized once: iterating the sampler twice would draw a second, different
        # shuffle from its generator.
        order = list(self.sampler)
        try:
            self._hint(order)
        except ShoalError as exc:
            if self.strict:
                raise
            warnings.warn(f"shoal: the epoch runs without hints: {exc}")
        return iter(order)

    def _hint(self, order):
        indices = _flat(order)
        first = next(indices, None)
        if first is None:
            return
        cwd, cwdb = os.getcwd(), os.getcwdb()

        def on_mount(index):
            # Volume.set_hints reads relative paths as volume paths; ours are the job's.
            path = os.fspath(self.paths_of(index))
            if os.path.isabs(path):
                return path
            return os.path.join(cwdb if isinstance(path, bytes) else cwd, path)

        if self.volume is None:
            self.volume = Volume.of(on_mount(first))

        capped = [False]

        def paths():
            yield on_mount(first)
            for count, index in enumerate(indices, 1):
                if count >= self.max_hints:
                    capped[0] = True
                    return
                yield on_mount(index)

        report = self.volume.set_hints(paths(), max_bytes=HINT_BYTES)
        report.truncated = report.truncated or capped[0]
        self.last_report = report


class FileDataset(_data.Dataset):
    """Every file under `root` (sorted by path): item i is its bytes, or (path, bytes) with
    with_paths=True, or transform(bytes) / (path, transform(bytes)) given a transform.

    Listing is metadata only, which a shoal mount serves without touching the store.
    """

    def __init__(self, root, transform=None, with_paths=False):
        self.root = os.path.abspath(os.fspath(root))
        self.transform = transform
        self.with_paths = with_paths
        self.paths = []
        for directory, dirs, names in os.walk(self.root):
            dirs.sort()
            self.paths.extend(os.path.join(directory, n) for n in sorted(names))
        if not self.paths:
            raise FileNotFoundError(f"no files under {self.root}")

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = self.paths[i]
        with open(path, "rb") as f:
            data = f.read()
        if self.transform is not None:
            data = self.transform(data)
        return (path, data) if self.with_paths else data


__all__ = ["HintedSampler", "FileDataset"]
