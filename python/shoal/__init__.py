"""shoal: find the volume a path is on, tell shoald the order a job reads its files in, read
its status and metrics, and hand files to a running `shoal writer`.

Standard library only; `shoal.torch` (needs PyTorch) adds HintedSampler and FileDataset.
"""
from .errors import (ControlError, ControlTimeout, DaemonGone, NotAShoalVolume, ProtocolError,
                     ShoalError)
from .metrics import parse_prometheus
from .volume import HintReport, Volume, run_dir, volume_of, volumes
from .writer import Writer

__all__ = [
    "ControlError", "ControlTimeout", "DaemonGone", "NotAShoalVolume", "ProtocolError",
    "ShoalError", "HintReport", "Volume", "Writer", "parse_prometheus", "run_dir", "volume_of",
    "volumes",
]
__version__ = "0.1.0"
