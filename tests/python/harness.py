"""Shared pieces of the Python tests: the built binaries, s3rver behind a proxy that records
every request in arrival order, data sets uploaded to it, mounts and writers.

Run by ctest (tests/CMakeLists.txt), which sets SHOAL_BUILD and SHOAL_SOURCE_DIR. Everything a
test needs (root, FUSE, loop devices, node and s3rver, PyTorch) is required: a missing piece
fails the test with a message saying what to install, never skips it.
"""
import contextlib
import importlib
import http.client
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

SOURCE = os.environ.get("SHOAL_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SHOAL_BUILD") or os.path.join(SOURCE, "build", "test")
SHOAL = os.path.join(BUILD, "tools", "shoal")
SHOALD = os.path.join(BUILD, "tools", "shoald")
S3RVER = os.path.join(SOURCE, ".deps", "node_modules", ".bin", "s3rver")
sys.path.insert(0, os.path.join(SOURCE, "python"))


def require_environment(torch=False):
    """Raises (failing the test) when something the tests need is missing."""
    missing = [p for p in (SHOAL, SHOALD) if not os.access(p, os.X_OK)]
    if missing:
        raise AssertionError(f"not built: {', '.join(missing)} (build the tree first)")
    if not os.access(S3RVER, os.X_OK):
        raise AssertionError(f"s3rver is not installed at {S3RVER}: run scripts/setup")
    if os.geteuid() != 0:
        raise AssertionError("these tests mount volumes: run them as root")
    if torch:
        try:
            importlib.import_module("torch")
        except ImportError as exc:
            raise AssertionError(f"PyTorch is missing for {sys.executable} ({exc}): "
                                 "run scripts/setup (python3-torch)") from None


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, env=None, check=True, timeout=300):
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            timeout=timeout)
    output = result.stdout.decode(errors="replace")
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{output}")
    return output


class _Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True


class RecordingS3:
    """s3rver, and in front of it a proxy that keeps (method, path) of every request in the
    order they arrived. The store's endpoint for shoal is the proxy's."""

    def __init__(self, buckets):
        self.dir = tempfile.mkdtemp(prefix="shoal-py-s3rver-")
        self.port = free_port()
        self.requests = []
        self._lock = threading.Lock()
        env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
        args = [S3RVER, "--directory", os.path.join(self.dir, "data"), "--port", str(self.port),
                "--address", "127.0.0.1", "--silent"]
        for b in buckets:
            args += ["--configure-bucket", b]
        self._log = open(os.path.join(self.dir, "s3rver.log"), "wb")
        self.process = subprocess.Popen(args, stdout=self._log, stderr=self._log, env=env)
        deadline = time.time() + 30
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"s3rver exited at start: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError(f"s3rver did not listen within 30 s: {self.log()}")
                time.sleep(0.05)
        self._proxy = _Proxy(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self._proxy.server_address[1]}"
        threading.Thread(target=self._proxy.serve_forever, daemon=True).start()

    def log(self):
        with open(os.path.join(self.dir, "s3rver.log"), "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def _handler(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                with outer._lock:
                    outer.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "keep-alive", "transfer-encoding")}
                upstream = http.client.HTTPConnection("127.0.0.1", outer.port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    reply = upstream.getresponse()
                    data = reply.read()
                finally:
                    upstream.close()
                self.send_response(reply.status, reply.reason)
                for k, v in reply.getheaders():
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding",
                                         "content-length"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                elif reply.getheader("Content-Length"):
                    self.send_header("Content-Length", reply.getheader("Content-Length"))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        return Handler

    def gets(self, bucket, prefix=""):
        """Object keys GET through the proxy, in arrival order (listings left out)."""
        start = f"/{bucket}/{prefix}"
        with self._lock:
            return [p[len(bucket) + 2:].split("?")[0] for m, p in self.requests
                    if m == "GET" and p.startswith(start) and len(p) > len(bucket) + 2]

    def put_tree(self, bucket, root, prefix=""):
        """Uploads every file under `root` to bucket/prefix<relative path>, past the proxy."""
        files = []
        for d, _, names in os.walk(root):
            files += [os.path.join(d, n) for n in names]

        def put(path):
            key = prefix + os.path.relpath(path, root)
            with open(path, "rb") as f:
                data = f.read()
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                c.request("PUT", f"/{bucket}/{key}", body=data,
                          headers={"Content-Length": str(len(data))})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    raise AssertionError(f"PUT {key}: HTTP {r.status}")
            finally:
                c.close()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, files))
        return len(files)

    def get(self, bucket, key):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request("GET", f"/{bucket}/{key}")
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def close(self):
        self._proxy.shutdown()
        self._proxy.server_close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def store_env(s3):
    """The environment that points shoal's s3:// store at `s3` (inherited by shoald too)."""
    return {"AWS_ENDPOINT_URL": s3.endpoint, "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


class Workspace:
    """A temporary directory with SHOAL_RUN_DIR and SHOAL_INDEX_DIR of its own (set in this
    process's environment, so shoal's records stay out of /run/shoal), and what it mounted."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shoal-py-")
        self._saved = {k: os.environ.get(k) for k in ("SHOAL_RUN_DIR", "SHOAL_INDEX_DIR")}
        os.environ["SHOAL_RUN_DIR"] = os.path.join(self.dir, "run")
        os.environ["SHOAL_INDEX_DIR"] = os.path.join(self.dir, "index")
        self.mounts = []
        self.processes = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def mount(self, uri, name, config=None, env_extra=None):
        """Indexes `uri` and mounts it at <dir>/<name>; returns the mount point."""
        env = dict(os.environ, **(env_extra or {}))
        mnt = self.path(name)
        os.makedirs(mnt, exist_ok=True)
        index = self.path(name + ".shix")
        run([SHOAL, "index", "build", uri, "-o", index], env=env)
        args = [SHOAL, "mount", index, mnt]
        if config:
            cfg = self.path(name + ".toml")
            with open(cfg, "w") as f:
                f.write(config)
            args += ["--config", cfg]
        run(args, env=env)
        self.mounts.append(mnt)
        return mnt

    def writer(self, config_text, name="writer", env_extra=None):
        """Starts `shoal writer` with this config; returns (config path, control socket)."""
        cfg = self.path(name + ".toml")
        with open(cfg, "w") as f:
            f.write(config_text)
        env = dict(os.environ, **(env_extra or {}))
        with open(self.path(name + ".log"), "wb") as log:
            p = subprocess.Popen([SHOAL, "writer", "--config", cfg], stdout=log, stderr=log,
                                 env=env)
        self.processes.append(p)
        return cfg, p

    def close(self):
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for mnt in reversed(self.mounts):
            with contextlib.suppress(AssertionError):
                run([SHOAL, "umount", "--lazy", mnt], check=False)
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(condition, timeout=30, what="a condition"):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def main():
    unittest.main(verbosity=2)
