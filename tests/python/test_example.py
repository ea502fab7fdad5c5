"""examples/pytorch_run.sh against this build's binaries: a short training run on a mounted
MNIST-like data set through the hinted sampler, checkpoints shipped by `shoal writer`; the
script fails unless the bucket holds the final checkpoints byte for byte."""
import os
import subprocess
import sys
import unittest

import harness


class PyTorchExampleTest(unittest.TestCase):
    def test_training_on_a_mount_with_the_writer_shipping_checkpoints(self):
        harness.require_environment(torch=True)
        script = os.path.join(harness.SOURCE, "examples", "pytorch_run.sh")
        env = dict(os.environ, SHOAL_BUILD=harness.BUILD, PYTHON=sys.executable)
        result = subprocess.run([script, "--steps", "120"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, timeout=600)
        output = result.stdout.decode(errors="replace")
        self.assertEqual(result.returncode, 0, output)
        self.assertIn("example: ok", output)
        self.assertIn("byte for byte", output)
        self.assertIn("hinted 2000 paths an epoch (0 unknown)", output)
        self.assertRegex(output, r"dataload cost time: \d+\.\d+ s")


if __name__ == "__main__":
    harness.main()
