"""shoal-csi driven by a fake kubelet: the CSI calls kubelet makes, in its order and with its
path layout, over the plugin's Unix socket, against s3rver, inside a private mount namespace.

ctest runs this file under `unshare -m --propagation private` (tests/CMakeLists.txt), so every
mount the plugin makes lives and dies with the test; the test refuses to run in the host's
namespace. The stubs are generated from csi/csi.proto when the test starts (grpc_tools if it is
installed, else protoc with Debian's grpc_python_plugin). Missing pieces fail the test.

s3rver checks no signature but refuses any access key other than S3RVER (403
InvalidAccessKeyId), which is how a wrong key is tested; the secret itself is a distinctive
string that must never appear in any output (gRPC messages, the plugin's and daemons' logs,
command lines, the mount table).
"""
import errno
import hashlib
import importlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness

SHOAL_CSI = os.path.join(harness.BUILD, "tools", "shoal-csi")
SUPERVISE = os.path.join(harness.SOURCE, "deploy", "kubernetes", "shoal-csi-supervise")
DRIVER = "csi.shoal.dev"
BUCKET = "datasets"
PREFIX = "train/images/"
SECRET = "sEcReT-nEvEr-LoGgEd-7f3a"
FILES = 60

# csi.v1.VolumeCapability.AccessMode.Mode
SINGLE_NODE_WRITER, MULTI_NODE_READER_ONLY = 1, 3


def load_stubs(out_dir):
    """csi_pb2 and csi_pb2_grpc generated from csi/csi.proto into out_dir."""
    proto_dir = os.path.join(harness.SOURCE, "csi")
    try:
        from grpc_tools import protoc  # noqa: F401 (python3-grpc-tools, when present)
        args = [sys.executable, "-m", "grpc_tools.protoc"]
        plugin = []
    except ImportError:
        plugin_path = shutil.which("grpc_python_plugin")
        if not shutil.which("protoc") or not plugin_path:
            raise AssertionError("protoc and grpc_python_plugin are missing: run scripts/setup "
                                 "(protobuf-compiler, protobuf-compiler-grpc)")
        args = ["protoc"]
        plugin = [f"--plugin=protoc-gen-grpc_python={plugin_path}"]
    harness.run(args + plugin + [f"-I{proto_dir}", f"--python_out={out_dir}",
                                 f"--grpc_python_out={out_dir}",
                                 os.path.join(proto_dir, "csi.proto")])
    sys.path.insert(0, out_dir)
    return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")


def mount_points_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == root or point.startswith(root + "/"):
                out.append(point)
    return out


def shoald_pids(state_dir):
    """Live shoald processes whose command line names this test's state directory."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if b"shoald" in cmdline.split(b"\0")[0] and state_dir.encode() in cmdline \
                and ") Z " not in stat:
            pids.append(int(pid))
    return pids


class Plugin:
    """shoal-csi as kubelet's node-driver-registrar would find it: a socket in the plugin dir."""

    def __init__(self, root, pb, rpc, grpc, supervised=False):
        self.root, self.pb, self.rpc, self.grpc = root, pb, rpc, grpc
        # Under deploy/kubernetes/shoal-csi-supervise, the image's main process.
        self.supervised = supervised
        self.socket = os.path.join(root, "plugins", DRIVER, "csi.sock")
        self.state = os.path.join(root, "state")
        self.log_path = os.path.join(root, "shoal-csi.log")
        self.process = None

    def start(self, env_extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OSS_"))}
        env.update(env_extra or {})
        args = [SHOAL_CSI, "--endpoint", "unix://" + self.socket, "--node-id", "node-1",
                "--state-dir", self.state, "--driver-name", DRIVER, "--shoald", harness.SHOALD]
        if self.supervised:
            env["PATH"] = os.path.dirname(SHOAL_CSI) + os.pathsep + env.get("PATH", "")
            args = [SUPERVISE] + args[1:]
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=self._log, stderr=self._log, env=env)
        self.connect()

    def connect(self):
        self.channel = self.grpc.insecure_channel("unix://" + self.socket)
        try:
            self.grpc.channel_ready_future(self.channel).result(timeout=30)
        except self.grpc.FutureTimeoutError:
            raise AssertionError(f"shoal-csi did not serve within 30 s:\n{self.log()}")
        self.identity = self.rpc.IdentityStub(self.channel)
        self.node = self.rpc.NodeStub(self.channel)

    def plugin_pids(self):
        """shoal-csi processes serving this socket (under the supervisor: its children)."""
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if os.path.basename(argv[0]) == b"shoal-csi" and self.socket.encode() in b" ".join(argv):
                pids.append(int(pid))
        return pids

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self):
        self.channel.close()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self):
        """SIGTERM: the plugin must exit 0 (and, under ASan, without a leak report)."""
        if self.process is None or self.process.poll() is not None:
            return None
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = "timeout"
        self._log.close()
        return code


class Kubelet:
    """kubelet's directory layout and the calls it makes for one CSI volume on one node."""

    def __init__(self, root, pb, plugin, handle):
        self.root, self.pb, self.plugin, self.handle = root, pb, plugin, handle
        digest = hashlib.sha256(handle.encode()).hexdigest()
        self.staging = os.path.join(root, "plugins", "kubernetes.io", "csi", DRIVER, digest,
                                    "globalmount")

    def target(self, pod_uid, pv="tf-train-pv"):
        return os.path.join(self.root, "pods", pod_uid, "volumes", "kubernetes.io~csi", pv,
                            "mount")

    def capability(self, mode=MULTI_NODE_READER_ONLY, block=False):
        c = self.pb.VolumeCapability(access_mode=self.pb.VolumeCapability.AccessMode(mode=mode))
        if block:
            c.block.SetInParent()
        else:
            c.mount.SetInParent()
        return c

    def stage(self, attributes, secrets=None, **overrides):
        # kubelet creates the volume's directory (vol_data.json) and the staging directory.
        os.makedirs(self.staging, exist_ok=True)
        fields = dict(volume_id=self.handle, staging_target_path=self.staging,
                      volume_capability=self.capability(), volume_context=attributes,
                      secrets=secrets or {})
        fields.update(overrides)
        fields = {k: v for k, v in fields.items() if v is not None}
        self.plugin.node.NodeGetCapabilities(self.pb.NodeGetCapabilitiesRequest())
        return self.plugin.node.NodeStageVolume(self.pb.NodeStageVolumeRequest(**fields),
                                                timeout=300)

    def publish(self, pod_uid, attributes, secrets=None, **overrides):
        # kubelet creates the target's parent; the plugin creates the target itself.
        target = self.target(pod_uid)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fields = dict(volume_id=self.handle, staging_target_path=self.staging, target_path=target,
                      volume_capability=self.capability(), readonly=False,
                      volume_context=dict(attributes, **{
                          "csi.storage.k8s.io/pod.uid": pod_uid,
                          "csi.storage.k8s.io/pod.name": "trainer-" + pod_uid[:4]}),
                      secrets=secrets or {})
        fields.update(overrides)
        fields = {k: v for k, v in fields.items() if v is not None}
        self.plugin.node.NodePublishVolume(self.pb.NodePublishVolumeRequest(**fields),
                                           timeout=300)
        return target

    def unpublish(self, pod_uid):
        self.plugin.node.NodeUnpublishVolume(self.pb.NodeUnpublishVolumeRequest(
            volume_id=self.handle, target_path=self.target(pod_uid)), timeout=120)

    def unstage(self):
        self.plugin.node.NodeUnstageVolume(self.pb.NodeUnstageVolumeRequest(
            volume_id=self.handle, staging_target_path=self.staging), timeout=120)

    def stats(self, path):
        return self.plugin.node.NodeGetVolumeStats(self.pb.NodeGetVolumeStatsRequest(
            volume_id=self.handle, volume_path=path), timeout=60)


class CsiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_environment()
        if not os.access(SHOAL_CSI, os.X_OK):
            raise AssertionError(f"not built: {SHOAL_CSI}")
        # unshare execs the interpreter, so the parent (ctest, a shell) is in the outer namespace.
        if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
            raise AssertionError("run in a private mount namespace: "
                                 "unshare -m --propagation private (ctest does)")
        try:
            cls.grpc = importlib.import_module("grpc")
        except ImportError as exc:
            raise AssertionError(f"python3-grpcio is missing ({exc}): run scripts/setup")
        cls.tmp = tempfile.mkdtemp(prefix="shoal-csi-")
        cls.pb, cls.rpc = load_stubs(cls.tmp)
        cls.s3 = harness.RecordingS3([BUCKET])
        cls.source = os.path.join(cls.tmp, "source")
        rng = random.Random(15)
        cls.files = {}
        for i in range(FILES):
            rel = os.path.join(f"class-{i % 3}", f"img-{i:04d}.jpg")
            data = rng.randbytes(rng.randrange(1, 40000))
            os.makedirs(os.path.join(cls.source, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(cls.source, rel), "wb") as f:
                f.write(data)
            cls.files[rel] = data
        cls.s3.put_tree(BUCKET, cls.source, PREFIX)

    @classmethod
    def tearDownClass(cls):
        cls.s3.close()
        # Never remove through a mount that is still there (tearDown unmounts everything).
        left = mount_points_under(cls.tmp)
        if left:
            raise AssertionError(f"mounts left under {cls.tmp}, not removing it: {left}")
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="kubelet-", dir=self.tmp)
        self.plugin = Plugin(self.root, self.pb, self.rpc, self.grpc)
        self.plugin.start()
        self.kubelet = Kubelet(self.root, self.pb, self.plugin, "tf-train-pv")
        # The ACK form of the PV, pointed at s3rver.
        self.attributes = {"bucket": BUCKET, "url": self.s3.endpoint, "path": "/" + PREFIX,
                           "region": "us-east-1", "protocol": "s3"}
        self.secrets = {"akId": "S3RVER", "akSecret": SECRET}

    def tearDown(self):
        code = self.plugin.stop()
        if os.environ.get("SHOAL_CSI_SHOW_LOG"):  # for a person reading what the plugin said
            print(self.plugin.log(), file=sys.stderr)
        leftovers = mount_points_under(self.root)
        for point in reversed(leftovers):
            subprocess.run(["umount", "-l", point], check=False)
        daemons = shoald_pids(self.plugin.state)
        for pid in daemons:
            os.kill(pid, signal.SIGKILL)
        self.assert_no_secret_anywhere()
        self.assertEqual(code, 0, f"shoal-csi did not exit cleanly on SIGTERM:\n{self.plugin.log()}")
        self.assertEqual(self.plugin.plugin_pids(), [], "shoal-csi left running")
        self.assertEqual(leftovers, [], "mounts left behind")
        self.assertEqual(daemons, [], "shoald processes left behind")

    # --- checks ---

    def assert_no_secret_anywhere(self):
        texts = {"shoal-csi log": self.plugin.log()}
        for d, _, names in os.walk(self.plugin.state):
            for n in names:
                if n.endswith(".log"):
                    texts[os.path.join(d, n)] = harness.read(os.path.join(d, n), "rb").decode(
                        errors="replace")
        with open("/proc/self/mountinfo") as f:
            texts["mountinfo"] = f.read()
        for pid in shoald_pids(self.plugin.state):
            texts[f"shoald {pid} argv"] = harness.read(f"/proc/{pid}/cmdline", "rb").decode(
                errors="replace")
        for what, text in texts.items():
            self.assertNotIn(SECRET, text, f"the secret leaked into {what}")

    def assert_reads_source(self, root):
        for rel, data in self.files.items():
            with open(os.path.join(root, rel), "rb") as f:
                self.assertEqual(f.read(), data, f"{rel} through {root}")
        self.assertEqual(sorted(os.listdir(root)), ["class-0", "class-1", "class-2"])

    def assert_read_only(self, root):
        for attempt in (lambda: open(os.path.join(root, "new-file"), "wb"),
                        lambda: open(os.path.join(root, "class-0", "img-0000.jpg"), "r+b"),
                        lambda: os.mkdir(os.path.join(root, "new-dir"))):
            with self.assertRaises(OSError) as caught:
                attempt()
            self.assertEqual(caught.exception.errno, errno.EROFS)

    def assert_nothing_left(self):
        self.assertEqual(mount_points_under(self.root), [])
        self.assertEqual(shoald_pids(self.plugin.state), [])
        self.assertEqual(os.listdir(os.path.join(self.plugin.state, "volumes")), [])
        self.assertEqual(os.listdir(os.path.join(self.plugin.state, "run")), [])

    def assert_code(self, code, call, *must_mention):
        with self.assertRaises(self.grpc.RpcError) as caught:
            call()
        error = caught.exception
        self.assertEqual(error.code(), code, error.details())
        self.assertNotIn(SECRET, error.details() or "")
        for word in must_mention:
            self.assertIn(word, error.details())
        return error.details()

    def daemon_requests(self, kubelet):
        """Block reads the volume's shoald has answered (`shoal stats`, its metrics)."""
        env = dict(os.environ, SHOAL_RUN_DIR=os.path.join(self.plugin.state, "run"))
        text = harness.run([harness.SHOAL, "stats", kubelet.staging], env=env)
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("shoal_engine_requests_total"))

    # --- the tests ---

    def test_identity_and_node_info(self):
        info = self.plugin.identity.GetPluginInfo(self.pb.GetPluginInfoRequest())
        self.assertEqual(info.name, DRIVER)
        self.assertTrue(info.vendor_version)
        caps = self.plugin.identity.GetPluginCapabilities(self.pb.GetPluginCapabilitiesRequest())
        self.assertEqual(len(caps.capabilities), 0, "no controller service")
        self.assertTrue(self.plugin.identity.Probe(self.pb.ProbeRequest()).ready.value)
        self.assertEqual(self.plugin.node.NodeGetInfo(self.pb.NodeGetInfoRequest()).node_id,
                         "node-1")
        node_caps = self.plugin.node.NodeGetCapabilities(self.pb.NodeGetCapabilitiesRequest())
        rpc = self.pb.NodeServiceCapability.RPC
        self.assertEqual(sorted(c.rpc.type for c in node_caps.capabilities),
                         [rpc.STAGE_UNSTAGE_VOLUME, rpc.GET_VOLUME_STATS])

    def test_stage_publish_two_pods_unpublish_unstage(self):
        k = self.kubelet
        for _ in range(2):  # every call twice: kubelet retries calls whose answer it lost
            k.stage(self.attributes, self.secrets)
        self.assertIn(k.staging, mount_points_under(self.root))
        self.assertEqual(len(shoald_pids(self.plugin.state)), 1)
        pod_a, pod_b = "0f6c3c1e-aaaa-4d6e-9d1e-000000000001", "0f6c3c1e-bbbb-4d6e-9d1e-000000000002"
        for _ in range(2):
            a = k.publish(pod_a, self.attributes)
            b = k.publish(pod_b, self.attributes)
        self.assertEqual(len(shoald_pids(self.plugin.state)), 1, "one daemon per volume per node")
        for target in (a, b):
            self.assert_reads_source(target)
            self.assert_read_only(target)
        stats = k.stats(a)
        units = {u.unit: u for u in stats.usage}
        self.assertGreater(units[self.pb.VolumeUsage.BYTES].total, 0)
        self.assertGreaterEqual(units[self.pb.VolumeUsage.INODES].used, FILES)
        for _ in range(2):
            k.unpublish(pod_a)
        self.assertFalse(os.path.exists(a))
        self.assert_reads_source(b)  # the other pod keeps reading
        for _ in range(2):
            k.unpublish(pod_b)
        self.assert_code(self.grpc.StatusCode.NOT_FOUND, lambda: k.stats(b))
        for _ in range(2):
            k.unstage()
        self.assert_nothing_left()

    def test_secrets_only_at_publish_stage_on_first_publish(self):
        """The ACK example: nodePublishSecretRef, so NodeStageVolume carries no secrets."""
        k = self.kubelet
        secrets = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": SECRET}
        for _ in range(2):
            k.stage(self.attributes)
        self.assertEqual(mount_points_under(self.root), [], "nothing to mount with yet")
        pod = "5a1d9c00-0000-4000-8000-00000000000a"
        for _ in range(2):
            target = k.publish(pod, self.attributes, secrets)
        self.assert_reads_source(target)
        self.assertIn(k.staging, mount_points_under(self.root))
        k.unpublish(pod)
        k.unstage()
        self.assert_nothing_left()

    def test_no_secrets_the_nodes_environment(self):
        """No secret in any call: the plugin's own environment holds the keys."""
        k = self.kubelet
        for key in ("NOT-S3RVER", "S3RVER"):  # a wrong key first: proof the environment's is used
            self.assertEqual(self.plugin.stop(), 0)
            self.plugin = Plugin(self.root, self.pb, self.rpc, self.grpc)
            self.plugin.start({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": SECRET})
            k.plugin = self.plugin
            k.stage(self.attributes)
            if key != "S3RVER":
                self.assert_code(self.grpc.StatusCode.PERMISSION_DENIED,
                                 lambda: k.publish("env-pod", self.attributes), BUCKET)
        target = k.publish("env-pod", self.attributes)
        self.assert_reads_source(target)
        self.assertIn("with the node's credentials", self.plugin.log())
        k.unpublish("env-pod")
        k.unstage()
        self.assert_nothing_left()

    def test_prebuilt_index_and_shoals_own_attributes(self):
        """`index` names an index shared through the bucket: fetched, not listed."""
        index_dir = os.path.join(self.root, "shared-index")
        os.makedirs(index_dir)
        harness.run([harness.SHOAL, "index", "build", f"s3://{BUCKET}/{PREFIX}", "-o",
                     os.path.join(index_dir, "train.shix")],
                    env=dict(os.environ, **harness.store_env(self.s3)))
        self.s3.put_tree(BUCKET, index_dir, "indexes/")
        attributes = dict(self.attributes, index=f"s3://{BUCKET}/indexes/train.shix",
                          cacheMemory="64MiB", prefetch="none", frontend="fuse", rps="1000")
        k = self.kubelet
        listings = len([r for r in self.s3.requests if "list-type" in r[1] or "prefix=" in r[1]])
        k.stage(attributes, self.secrets)
        self.assertIn(f"index s3://{BUCKET}/indexes/train.shix fetched", self.plugin.log())
        [daemon] = shoald_pids(self.plugin.state)
        argv = harness.read(f"/proc/{daemon}/cmdline", "rb").split(b"\0")
        for flag, value in ((b"--cache-memory", b"67108864"), (b"--prefetch", b"none"),
                            (b"--frontend", b"fuse")):
            self.assertEqual(argv[argv.index(flag) + 1], value, argv)
        self.assertEqual(len([r for r in self.s3.requests
                              if "list-type" in r[1] or "prefix=" in r[1]]), listings,
                         "the prefix was listed although an index was given")
        self.assert_reads_source(k.publish("index-pod", attributes))
        k.unpublish("index-pod")
        k.unstage()
        self.assert_nothing_left()

    def test_bad_requests(self):
        k = self.kubelet
        INVALID, NOT_FOUND = self.grpc.StatusCode.INVALID_ARGUMENT, self.grpc.StatusCode.NOT_FOUND
        table = [
            ("missing volume id", INVALID, lambda: k.stage(self.attributes, self.secrets,
                                                           volume_id=""), ["volume_id"]),
            ("missing staging path", INVALID, lambda: k.stage(
                self.attributes, self.secrets, staging_target_path=""), ["staging_target_path"]),
            ("missing capability", INVALID, lambda: k.stage(
                self.attributes, self.secrets, volume_capability=None), ["volume_capability"]),
            ("writer access mode", INVALID, lambda: k.stage(
                self.attributes, self.secrets,
                volume_capability=k.capability(SINGLE_NODE_WRITER)), ["shoal writer"]),
            ("block volume", INVALID, lambda: k.stage(
                self.attributes, self.secrets, volume_capability=k.capability(block=True)),
             ["shoal writer"]),
            ("unknown attribute", INVALID, lambda: k.stage(
                dict(self.attributes, otherOpts="-o allow_other"), self.secrets), ["otherOpts"]),
            ("missing bucket", INVALID, lambda: k.stage(
                {a: v for a, v in self.attributes.items() if a != "bucket"}, self.secrets),
             ["bucket"]),
            ("half a secret", INVALID, lambda: k.stage(self.attributes, {"akSecret": SECRET}),
             ["akId"]),
            ("wrong access key", self.grpc.StatusCode.PERMISSION_DENIED, lambda: k.stage(
                self.attributes, {"akId": "NOT-S3RVER", "akSecret": SECRET}), [BUCKET]),
            ("bucket that does not exist", NOT_FOUND, lambda: k.stage(
                dict(self.attributes, bucket="no-such-bucket"), self.secrets),
             ["no-such-bucket"]),
            ("publish: missing target", INVALID, lambda: k.publish(
                "p", self.attributes, target_path=""), ["target_path"]),
            ("publish: writer access mode", INVALID, lambda: k.publish(
                "p", self.attributes, volume_capability=k.capability(SINGLE_NODE_WRITER)),
             ["shoal writer"]),
            ("publish: volume not staged", NOT_FOUND, lambda: k.publish("p", self.attributes),
             ["not staged"]),
            ("unpublish: missing volume id", INVALID, lambda: self.plugin.node.NodeUnpublishVolume(
                self.pb.NodeUnpublishVolumeRequest(target_path=k.target("p"))), ["volume_id"]),
            ("unstage: missing staging path", INVALID, lambda: self.plugin.node.NodeUnstageVolume(
                self.pb.NodeUnstageVolumeRequest(volume_id="tf-train-pv")),
             ["staging_target_path"]),
            ("stats: not mounted", NOT_FOUND, lambda: k.stats(k.staging), ["not mounted"]),
        ]
        for name, code, call, words in table:
            with self.subTest(name):
                for _ in range(2):  # a refused call is refused again the same way
                    self.assert_code(code, call, *words)
                self.assertEqual(mount_points_under(self.root), [], name)
                self.assertEqual(shoald_pids(self.plugin.state), [], name)
                volumes = os.path.join(self.plugin.state, "volumes")
                configs = [os.path.join(d, n) for d, _, ns in os.walk(volumes) for n in ns
                           if n == "volume.toml"]
                self.assertEqual(configs, [], f"{name}: a failed stage left its keys behind")
        # A target that something else is mounted on is not taken for a publish done earlier.
        busy = k.target("busy-pod")
        os.makedirs(busy)
        harness.run(["mount", "-t", "tmpfs", "tmpfs", busy])
        try:
            self.assert_code(self.grpc.StatusCode.FAILED_PRECONDITION,
                             lambda: k.publish("busy-pod", self.attributes), "tmpfs")
        finally:
            harness.run(["umount", busy])
        # Unpublish and unstage of what is not there succeed (idempotent).
        k.unpublish("never-published")
        k.unstage()
        self.assert_nothing_left()

    def test_plugin_killed_and_restarted_while_two_pods_read(self):
        k = self.kubelet
        k.stage(self.attributes, self.secrets)
        pods = ["restart-pod-1", "restart-pod-2"]
        targets = [k.publish(p, self.attributes) for p in pods]
        daemons = shoald_pids(self.plugin.state)
        self.assertEqual(len(daemons), 1)
        failures, reads, stop = [], [0], threading.Event()

        def reader(target):
            names = sorted(self.files)
            while not stop.is_set():
                for rel in names:
                    try:
                        with open(os.path.join(target, rel), "rb") as f:
                            # Out of the page cache first, so the read reaches shoald.
                            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                            if f.read() != self.files[rel]:
                                failures.append(f"{target}/{rel}: wrong bytes")
                    except OSError as exc:
                        failures.append(f"{target}/{rel}: {exc}")
                    reads[0] += 1
                    if stop.is_set():
                        break

        threads = [threading.Thread(target=reader, args=(t,)) for t in targets]
        for t in threads:
            t.start()
        try:
            harness.wait_for(lambda: reads[0] > 2 * FILES, what="the pods to read")
            self.plugin.kill()
            seen, served = reads[0], self.daemon_requests(k)
            harness.wait_for(lambda: reads[0] > seen + FILES, what="reads with the plugin dead")
            self.assertGreater(self.daemon_requests(k), served,
                               "the reads with the plugin dead reached shoald")
            self.assertEqual(shoald_pids(self.plugin.state), daemons, "shoald outlives the plugin")
            self.plugin.start()
            # kubelet repeats calls after a plugin restart: they find the volume from the mount
            # table and the state directory.
            k.stage(self.attributes, self.secrets)
            for p in pods:
                k.publish(p, self.attributes)
            self.assertEqual(shoald_pids(self.plugin.state), daemons)
            seen, served = reads[0], self.daemon_requests(k)
            harness.wait_for(lambda: reads[0] > seen + FILES, what="reads after the restart")
            self.assertGreater(self.daemon_requests(k), served)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])
        self.assertIn("found volume at", self.plugin.log())
        for p in pods:
            k.unpublish(p)
        k.unstage()
        self.assert_nothing_left()

    def test_supervisor_starts_a_crashed_plugin_again(self):
        """The image's entry point: shoal-csi killed under it comes back, volumes untouched."""
        self.plugin.stop()
        self.plugin = Plugin(self.root, self.pb, self.rpc, self.grpc, supervised=True)
        self.plugin.start()
        self.kubelet.plugin = self.plugin
        k = self.kubelet
        k.stage(self.attributes, self.secrets)
        target = k.publish("supervised-pod", self.attributes)
        daemons = shoald_pids(self.plugin.state)
        [first] = self.plugin.plugin_pids()
        os.kill(first, signal.SIGKILL)
        harness.wait_for(lambda: self.plugin.plugin_pids() not in ([], [first]),
                         what="the supervisor to start shoal-csi again")
        self.plugin.channel.close()
        self.plugin.connect()
        self.assert_reads_source(target)
        self.assertEqual(shoald_pids(self.plugin.state), daemons)
        k.publish("supervised-pod", self.attributes)  # kubelet's repeat finds it published
        k.unpublish("supervised-pod")
        k.unstage()
        self.assert_nothing_left()
        self.assertIn("starting it again", self.plugin.log())


if __name__ == "__main__":
    harness.main()
