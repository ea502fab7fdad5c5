"""The wire format (common/control.h) as the package writes and reads it, over a socket served
by this test; no daemon needed."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import harness  # noqa: F401  (puts the package on the path)

from shoal import _protocol
from shoal import ControlError, DaemonGone, ProtocolError, Volume
from shoal.metrics import parse_prometheus
from shoal.volume import parse_record


class CodecTest(unittest.TestCase):
    def test_words_encode_every_byte_outside_printable_ascii_and_the_percent_sign(self):
        self.assertEqual(_protocol.encode_word("put"), b"put")
        self.assertEqual(_protocol.encode_word("a b%c\n"), b"a%20b%25c%0A")
        self.assertEqual(_protocol.encode_word("é"), b"%C3%A9")
        self.assertEqual(_protocol.encode_word(""), b"")
        self.assertEqual(_protocol.encode_value("a b%"), b"a b%25")
        self.assertEqual(_protocol.encode_line(["put", "/a b", ""]), b"put /a%20b \n")
        every = bytes(range(256))
        self.assertEqual(_protocol.decode_word(_protocol.encode_word(every)), every)
        self.assertEqual(_protocol.decode_value(_protocol.encode_value(every)), every)

    def test_decoding_accepts_either_case_and_refuses_what_must_be_encoded(self):
        self.assertEqual(_protocol.decode_word(b"%2f%2F"), b"//")
        for bad in (b"a b", b"%2", b"%zz", b"\x01", b"\xc3"):
            with self.assertRaises(ProtocolError):
                _protocol.decode_word(bad)
        self.assertEqual(_protocol.decode_value(b"upload failed:%0AHTTP 503"),
                         b"upload failed:\nHTTP 503")

    def test_prometheus_text(self):
        text = ('# HELP x y\n# TYPE shoal_engine_gets_total counter\n'
                'shoal_engine_gets_total 12\nshoal_engine_prefetch_window 4\n'
                'h_bucket{le="0.5"} 3\nh_bucket{le="+Inf"} 5\nh_sum 1.25\n'
                'lab{a="x y"} 7\n')
        s = parse_prometheus(text)
        self.assertEqual(s["shoal_engine_gets_total"], 12)
        self.assertEqual(s['h_bucket{le="+Inf"}'], 5)
        self.assertEqual(s["h_sum"], 1.25)
        self.assertEqual(s['lab{a="x y"}'], 7)

    def test_records_parse_without_tomllib_too(self):
        text = ("attach = 'image-file'\ncontrol_socket = '/run/shoal/abc/control.sock'\n"
                "mountpoint = \"/mnt/it's\"\npid = 4242\nsource = 's3://b/p/'\n")
        import shoal.volume as volume
        parsed = parse_record(text)
        saved, volume._toml = volume._toml, None
        try:
            self.assertEqual(parse_record(text), parsed)
        finally:
            volume._toml = saved
        self.assertEqual(parsed["pid"], 4242)
        self.assertEqual(parsed["mountpoint"], "/mnt/it's")


class FakeServer:
    """Answers one connection with `reply` after reading the request to the client's EOF."""

    def __init__(self, reply):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "s.sock")
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen()
        self.request = None
        self.reply = reply
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.listener.accept()
        chunks = []
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            chunks.append(data)
        self.request = b"".join(chunks)
        conn.sendall(self.reply)
        conn.close()

    def close(self):
        self.thread.join(10)
        self.listener.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


class CallTest(unittest.TestCase):
    def test_a_request_with_a_streamed_body_and_a_reply_with_fields_and_a_body(self):
        server = FakeServer(b"ok\nname a%20b c\nname 2\n\nbody\n\nbytes")
        reply = _protocol.call(server.path, ["hints", "x y"], (c for c in [b"p1\n", b"p2\n"]))
        server.close()
        self.assertEqual(server.request, b"hints x%20y\np1\np2\n")
        self.assertEqual(reply.fields, [("name", "a b c"), ("name", "2")])
        self.assertEqual(reply.all("name"), ["a b c", "2"])
        self.assertEqual(reply.as_dict(), {"name": "a b c"})
        self.assertEqual(reply.body, b"body\n\nbytes")

    def test_hints_are_sent_as_volume_paths_and_unnameable_ones_counted_here(self):
        server = FakeServer(b"ok\nmatched 2\nunknown 1\nunknown_path a/b\n")
        v = Volume(server.path, mountpoint="/nonexistent/mnt")
        report = v.set_hints(["a/b", "#c", "/nonexistent/mnt/d/e", b"/nonexistent/mnt/f",
                              "/other/x", "bad\r", "x\ny", "/nonexistent/mnt"])
        server.close()
        self.assertEqual(server.request, b"hints\na/b\n/#c\nd/e\nf\n")
        self.assertEqual((report.matched, report.unknown), (2, 5))
        self.assertEqual(report.unknown_paths,
                         ["/other/x", "bad\r", "x\ny", "/nonexistent/mnt", "a/b"])

    def test_a_byte_budget_stops_the_list_and_says_so(self):
        server = FakeServer(b"ok\nmatched 2\nunknown 0\n")
        taken = []

        def paths():
            for i in range(10):
                taken.append(i)
                yield f"p{i}"

        report = Volume(server.path).set_hints(paths(), max_bytes=7)
        server.close()
        self.assertEqual(server.request, b"hints\np0\np1\n")
        self.assertTrue(report.truncated)
        self.assertEqual(taken, [0, 1, 2])  # the rest of the iterable is left alone

    def test_an_error_reply_carries_the_message(self):
        server = FakeServer(b"error unknown command 'x' (known: status)%0Anext\n")
        with self.assertRaises(ControlError) as e:
            _protocol.call(server.path, ["x"])
        server.close()
        self.assertEqual(e.exception.message, "unknown command 'x' (known: status)\nnext")

    def test_a_server_that_leaves_without_an_answer_is_gone(self):
        server = FakeServer(b"")
        with self.assertRaises(DaemonGone):
            _protocol.call(server.path, ["status"])
        server.close()
        with self.assertRaises(DaemonGone):
            _protocol.call(server.path, ["status"])

    def test_a_malformed_reply_is_a_protocol_error(self):
        for reply in (b"maybe\n", b"ok\nnovalue\n", b"ok\nname value"):
            server = FakeServer(reply)
            with self.assertRaises(ProtocolError):
                _protocol.call(server.path, ["status"])
            server.close()


class PackageTest(unittest.TestCase):
    def test_it_imports_without_torch_and_only_shoal_torch_needs_it(self):
        code = ("import sys; sys.modules['torch'] = None\n"
                "import shoal; shoal.Volume; shoal.Writer\n"
                "try:\n import shoal.torch\nexcept ImportError: print('no torch: ok')\n")
        env = dict(os.environ, PYTHONPATH=os.path.join(harness.SOURCE, "python"))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env)
        self.assertEqual((out.returncode, out.stdout), (0, "no torch: ok\n"), out.stderr)

    def test_it_installs_offline_with_what_debian_python_has(self):
        with tempfile.TemporaryDirectory() as tmp:
            # A copy: an in-tree build would leave build/ and *.egg-info in the repository.
            src = os.path.join(tmp, "src")
            shutil.copytree(os.path.join(harness.SOURCE, "python"), src)
            target = os.path.join(tmp, "site")
            out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                                  "--no-index", "--no-deps", "--target", target, src],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            check = subprocess.run([sys.executable, "-c", "import shoal, shoal.torch; "
                                    "print(shoal.__file__)"], capture_output=True, text=True,
                                   env=dict(os.environ, PYTHONPATH=target), cwd=tmp)
            self.assertEqual(check.returncode, 0, check.stderr)
            self.assertTrue(check.stdout.startswith(target), check.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
