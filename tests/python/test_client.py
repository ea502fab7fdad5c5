"""The shoal package against a real shoald (a `shoal mount` of s3rver) and a real writer."""
import os
import random
import signal
import tempfile
import time
import json
import sys
import textwrap
import unittest

import harness

import shoal

FILES = 120


def make_tree(root, count, seed):
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        path = os.path.join(root, f"dir-{i % 4}", f"file-{i:04d}.bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(rng.randbytes(rng.randrange(1, 20000)))
        paths.append(path)
    return paths


# GETs one at a time, so the proxy sees them in the order shoald issued them; no prefetch but
# the hints', so every GET the test did not ask for is the hint list's doing.
SERIAL_DIRECT = '[fetch]\nmax_inflight = 1\n[prefetch]\nmode = "none"\n'


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_environment()
        cls.s3 = harness.RecordingS3(["data", "ckpt"])
        cls.ws = harness.Workspace()
        os.environ.update(harness.store_env(cls.s3))
        src = cls.ws.path("src")
        cls.sources = make_tree(src, FILES, seed=1)
        cls.rel = sorted(os.path.relpath(p, src) for p in cls.sources)
        assert cls.s3.put_tree("data", src, "set/") == FILES
        cls.mnt = cls.ws.mount("s3://data/set/", "plain", SERIAL_DIRECT)

    @classmethod
    def tearDownClass(cls):
        cls.ws.close()
        cls.s3.close()

    def test_finds_the_volume_and_reads_status_report_and_stats(self):
        v = shoal.volume_of(os.path.join(self.mnt, "dir-1", "file-0001.bin"))
        self.assertEqual(v.mountpoint, os.path.realpath(self.mnt))
        self.assertEqual(shoal.Volume.of(self.mnt).control_socket, v.control_socket)
        self.assertIn(v.mountpoint, [x.mountpoint for x in shoal.volumes()])
        status = v.status()
        self.assertEqual(status["pid"], v.pid)
        self.assertEqual(status["source"], "s3://data/set/")
        self.assertGreater(status["device_bytes"], 0)
        report = v.report()
        self.assertIn(report["attach"], ("image-file", "block-device"))
        self.assertEqual(report["frontend"], v.frontend)
        self.assertEqual(report["pid"], v.pid)
        with open(os.path.join(self.mnt, "dir-2", "file-0002.bin"), "rb") as f:
            self.assertEqual(f.read(), harness.read(self.ws.path("src", "dir-2", "file-0002.bin"),
                                                    "rb"))
        stats = v.stats()
        self.assertGreaterEqual(stats["shoal_engine_gets_total"], 1)
        self.assertEqual(stats["shoal_engine_request_errors_total"], 0)
        self.assertIn("shoal_daemon_cache_budget_bytes", stats)
        self.assertTrue(any(k.startswith("shoal_engine_get_latency_seconds_bucket{")
                            for k in stats), list(stats)[:20])

    def test_hints_set_the_order_of_the_gets(self):
        mnt = self.ws.mount("s3://data/set/", "hinted", SERIAL_DIRECT)
        v = shoal.Volume.of(mnt)
        order = [os.path.join(mnt, p) for p in self.rel]
        random.Random(7).shuffle(order)
        before = len(self.s3.gets("data", "set/"))
        self.assertEqual(v.stats()["shoal_engine_gets_total"], 0)
        report = v.set_hints(order)
        self.assertEqual((report.matched, report.unknown), (FILES, 0))
        # Reading the last hint keeps every hint before it fetched: the whole list, in its
        # order, for one read. Without hints (direct mode) this read is the only GET.
        with open(order[-1], "rb") as f:
            f.read()
        harness.wait_for(lambda: v.stats()["shoal_engine_gets_total"] >= FILES,
                         what="the hinted GETs")
        time.sleep(0.3)
        self.assertEqual(v.stats()["shoal_engine_gets_total"], FILES)
        keys = [k[len("set/"):] for k in self.s3.gets("data", "set/")[before:]]
        expected = [os.path.relpath(p, mnt) for p in order]
        self.assertEqual(sorted(keys), sorted(expected))
        last = expected[-1]
        self.assertEqual([k for k in keys if k != last], expected[:-1])
        self.assertNotEqual(expected, sorted(expected))  # a real reordering was asked for
        for p in order[:10]:
            with open(p, "rb") as f:
                f.read()
        self.assertEqual(v.stats()["shoal_engine_gets_total"], FILES)

    def test_a_million_hints_stream_and_unknown_paths_are_counted(self):
        # In a process of its own, so its peak memory is the call's: the list (about 30 MB)
        # and the reply (about 35 MB) must go through without being held whole.
        child = textwrap.dedent("""
            import json, os, resource, sys, time
            import shoal
            mnt, real = sys.argv[1], sys.argv[2:]
            v = shoal.Volume.of(mnt)
            def paths():
                yield from real
                for i in range(1_000_000):
                    yield f"no/such/file-{i:07d}.bin"
                yield "/elsewhere/outside/the/volume"
                yield os.path.join(mnt, "bad\\nname")
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.time()
            r = v.set_hints(paths(), keep_unknown=100)
            print(json.dumps({"matched": r.matched, "unknown": r.unknown,
                              "unknown_paths": r.unknown_paths, "took": time.time() - started,
                              "grew_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                          - before}))
        """)
        real = [os.path.join(self.mnt, p) for p in self.rel[:3]]
        out = harness.run([sys.executable, "-c", child, self.mnt] + real,
                          env=dict(os.environ, PYTHONPATH=os.path.join(harness.SOURCE, "python")))
        report = json.loads(out.strip().splitlines()[-1])
        print(f"\n1,000,005 hints in {report['took']:.1f} s, peak RSS +{report['grew_kib']} KiB",
              flush=True)
        self.assertEqual(report["matched"], 3)
        self.assertEqual(report["unknown"], 1_000_002)
        self.assertEqual(len(report["unknown_paths"]), 100)
        self.assertIn("/elsewhere/outside/the/volume", report["unknown_paths"])
        self.assertIn("no/such/file-0000000.bin", report["unknown_paths"])
        self.assertLess(report["grew_kib"], 16 << 10)
        self.assertLess(report["took"], 300)
        self.assertEqual(shoal.Volume.of(self.mnt).set_hints([]).matched, 0)

    def test_errors_say_what_is_wrong(self):
        with tempfile.TemporaryDirectory() as elsewhere:
            with self.assertRaises(shoal.NotAShoalVolume) as e:
                shoal.volume_of(elsewhere)
            self.assertIn("not on a volume shoal mounted", str(e.exception))
        with self.assertRaises(shoal.DaemonGone):
            shoal.Volume(self.ws.path("no-such.sock")).status()

        mnt = self.ws.mount("s3://data/set/", "doomed", SERIAL_DIRECT)
        v = shoal.Volume.of(mnt)
        self.assertEqual(v.status()["pid"], v.pid)
        os.kill(v.pid, signal.SIGKILL)
        harness.wait_for(lambda: not os.path.exists(f"/proc/{v.pid}") or
                         harness.read(f"/proc/{v.pid}/stat").rpartition(")")[2].split()[0] == "Z",
                         what="shoald to die")
        for call in (v.status, v.stats, lambda: v.set_hints(["dir-0/file-0000.bin"])):
            with self.assertRaises(shoal.DaemonGone) as e:
                call()
            self.assertIn(f"shoal umount {v.mountpoint}", str(e.exception))
        with self.assertRaises(shoal.DaemonGone):
            shoal.volume_of(os.path.join(mnt, "dir-0")).stats()
        # The pid check aside, the socket alone tells too.
        v.pid = None
        with self.assertRaises(shoal.DaemonGone):
            v.status()
        harness.run([harness.SHOAL, "umount", mnt])
        self.ws.mounts.remove(mnt)
        with self.assertRaises(shoal.NotAShoalVolume):
            shoal.volume_of(mnt)

    def test_writer_put_status_flush(self):
        cfg, process = self.ws.writer(
            f'destination = "s3://ckpt/run/"\njournal = "{self.ws.path("w.journal")}"\n'
            f'spool = "{self.ws.path("spool")}"\n')
        w = shoal.Writer.from_config(cfg)
        self.assertEqual(w.control_socket, self.ws.path("w.journal") + ".sock")

        def up():
            try:
                w.status()
                return True
            except shoal.DaemonGone:
                self.assertIsNone(process.poll(), harness.read(self.ws.path("writer.log")))
                return False

        harness.wait_for(up, what="the writer's control socket")
        one, two = self.ws.path("model-1.pt"), self.ws.path("model-2.pt")
        with open(one, "wb") as f:
            f.write(os.urandom(300_000))
        with open(two, "wb") as f:
            f.write(os.urandom(1000))
        taken = w.put(one)
        self.assertEqual(taken["key"], "run/model-1.pt")
        self.assertIsInstance(taken["upload_id"], int)
        self.assertEqual(w.put(two, key="custom/second.pt")["key"], "run/custom/second.pt")
        w.flush(wait=True, timeout=60)
        w.flush(wait=False)
        status = w.status()
        self.assertEqual(status["pending_files"], 0)
        self.assertEqual(status["uploaded_files"], 2)
        self.assertEqual(status["stream"], [])
        for path, key in ((one, "run/model-1.pt"), (two, "run/custom/second.pt")):
            code, data = self.s3.get("ckpt", key)
            self.assertEqual(code, 200)
            self.assertEqual(data, harness.read(path, "rb"))
        with self.assertRaises(shoal.ControlError) as e:
            w.put(self.ws.path("no-such-file"))
        self.assertIn("no-such-file", e.exception.message)
        process.terminate()
        process.wait(15)
        with self.assertRaises(shoal.DaemonGone) as e:
            w.flush()
        self.assertIn("shoal writer", str(e.exception))


if __name__ == "__main__":
    harness.main()
