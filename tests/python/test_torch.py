"""shoal.torch: a DataLoader epoch over a `shoal mount` of s3rver with the hinted sampler, and
the sampler's contract (order, length, epochs, distributed shards) on its own."""
import hashlib
import os
import random
import unittest
import warnings

import harness

harness.require_environment(torch=True)

import torch  # noqa: E402
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler  # noqa: E402

import shoal  # noqa: E402
from shoal.torch import FileDataset, HintedSampler  # noqa: E402

FILES = 2000


class RecordingVolume:
    def __init__(self):
        self.lists = []

    def set_hints(self, paths, max_bytes=None):
        self.lists.append(list(paths))
        return shoal.HintReport(len(self.lists[-1]), 0, [])


class SamplerTest(unittest.TestCase):
    def test_the_order_is_the_wrapped_samplers_and_is_hinted_before_the_first_index(self):
        paths = [f"/v/f{i}" for i in range(100)]
        volume = RecordingVolume()
        def shuffled():
            return RandomSampler(range(100), generator=torch.Generator().manual_seed(3))

        sampler = HintedSampler(shuffled(), paths, volume=volume)
        expected = list(shuffled())
        it = iter(sampler)
        self.assertEqual(volume.lists, [[paths[i] for i in expected]])  # before any next()
        self.assertEqual(list(it), expected)
        self.assertEqual(len(sampler), 100)
        second = list(sampler)
        self.assertEqual(volume.lists[1], [paths[i] for i in second])
        self.assertNotEqual(second, expected)  # the next epoch draws a new shuffle

    def test_distributed_ranks_hint_their_own_shards_and_set_epoch_passes_through(self):
        paths = [f"/v/f{i}" for i in range(101)]
        shards = []
        for rank in range(2):
            volume = RecordingVolume()
            inner = DistributedSampler(range(101), num_replicas=2, rank=rank, seed=5)
            sampler = HintedSampler(inner, paths.__getitem__, volume=volume)
            sampler.set_epoch(3)
            self.assertEqual(inner.epoch, 3)
            order = list(sampler)
            self.assertEqual(len(sampler), len(inner))
            self.assertEqual(volume.lists, [[paths[i] for i in order]])
            shards.append(order)
        self.assertEqual(set(shards[0]) | set(shards[1]), set(range(101)))

    def test_a_batch_sampler_is_hinted_flat_and_hints_can_be_capped(self):
        from torch.utils.data import BatchSampler, SequentialSampler
        volume = RecordingVolume()
        batches = HintedSampler(BatchSampler(SequentialSampler(range(10)), 4, False),
                                [f"/v/{i}" for i in range(10)], volume=volume, max_hints=6)
        self.assertEqual(list(batches), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        self.assertEqual(volume.lists, [[f"/v/{i}" for i in range(6)]])
        self.assertTrue(batches.last_report.truncated)

    def test_without_a_volume_strict_raises_and_lenient_warns(self):
        with self.assertRaises(shoal.NotAShoalVolume):
            list(HintedSampler(range(3), ["/", "/", "/"]))
        with self.assertWarns(UserWarning):
            self.assertEqual(list(HintedSampler(range(3), ["/", "/", "/"], strict=False)),
                             [0, 1, 2])


def collate(batch):
    return batch


class DataLoaderEpochTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = harness.RecordingS3(["data"])
        cls.ws = harness.Workspace()
        os.environ.update(harness.store_env(cls.s3))
        src = cls.ws.path("src")
        rng = random.Random(11)
        cls.digests = {}
        for i in range(FILES):
            rel = os.path.join(f"class-{i % 10}", f"img-{i:05d}.raw")
            data = rng.randbytes(rng.randrange(500, 4000))
            os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(src, rel), "wb") as f:
                f.write(data)
            cls.digests[rel] = hashlib.sha256(data).hexdigest()
        assert cls.s3.put_tree("data", src, "train/") == FILES
        cls.mnt = cls.ws.mount("s3://data/train/", "mnt")

    @classmethod
    def tearDownClass(cls):
        cls.ws.close()
        cls.s3.close()

    def test_an_epoch_with_four_workers_reads_every_file_once_in_the_samplers_order(self):
        dataset = FileDataset(self.mnt, with_paths=True)
        self.assertEqual(len(dataset), FILES)
        volume = shoal.volume_of(self.mnt)
        self.assertEqual(volume.stats()["shoal_engine_gets_total"], 0)
        sampler = HintedSampler(RandomSampler(dataset, generator=torch.Generator().manual_seed(42)),
                                dataset.paths)
        expected = list(RandomSampler(dataset, generator=torch.Generator().manual_seed(42)))
        # Four workers on fewer cores is the point here (torch warns about it).
        warnings.filterwarnings("ignore", message="This DataLoader will create")
        loader = DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=4,
                            collate_fn=collate)
        seen = []
        for batch in loader:
            for path, data in batch:
                rel = os.path.relpath(path, self.mnt)
                self.assertEqual(hashlib.sha256(data).hexdigest(), self.digests[rel], rel)
                seen.append(path)
        self.assertEqual(seen, [dataset.paths[i] for i in expected])
        self.assertEqual(sampler.last_report.matched, FILES)
        self.assertEqual(sampler.last_report.unknown, 0)
        gets = self.s3.gets("data", "train/")
        self.assertEqual(len(gets), FILES)
        self.assertEqual(len(set(gets)), FILES)
        stats = volume.stats()
        self.assertEqual(stats["shoal_engine_gets_total"], FILES)
        self.assertEqual(stats["shoal_engine_request_errors_total"], 0)
        # How far the prefetch ran ahead of the workers depends on the store's speed against
        # theirs, so the misses are shown rather than bounded.
        print(f"\nepoch: {FILES} files, {stats['shoal_engine_cache_misses_total']} misses, "
              f"{stats['shoal_engine_cache_hits_total']} hits", flush=True)


if __name__ == "__main__":
    harness.main()
