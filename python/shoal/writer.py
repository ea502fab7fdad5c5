"""A running `shoal writer`, through its control socket (docs/writer.md)."""
import os

from . import _protocol
from .errors import DaemonGone

try:
    import tomllib as _toml
except ImportError:  # Python < 3.11
    _toml = None


class Writer:
    """`Writer(socket)`, or `Writer.from_config(toml)` for the socket a writer config names."""

    def __init__(self, control_socket, timeout=60.0):
        self.control_socket = control_socket
        self.timeout = timeout

    @classmethod
    def from_config(cls, path, timeout=60.0):
        """The writer of a config: its `control_socket`, else `<journal>.sock`."""
        if _toml is None:
            raise RuntimeError("reading a writer config needs Python 3.11 (tomllib); "
                               "pass the control socket to Writer() instead")
        with open(path, "rb") as f:
            config = _toml.load(f)
        socket_path = config.get("control_socket") or config.get("journal", "") + ".sock"
        if socket_path == ".sock":
            raise ValueError(f"{path} names neither control_socket nor journal")
        return cls(socket_path, timeout)

    def __repr__(self):
        return f"Writer({self.control_socket!r})"

    def _call(self, words, timeout):
        try:
            return _protocol.call(self.control_socket, words, timeout=timeout,
                                  who=f"the shoal writer at {self.control_socket}")
        except DaemonGone as exc:
            raise DaemonGone(f"{exc} (is `shoal writer` running with this socket?)") from None

    def put(self, path, key=None):
        """Hands a file over; returns {"upload_id": N, "key": KEY} once it is taken (journaled:
        from then on the file may be deleted). `key` is relative to the destination."""
        # Resolved as `shoal writer put` does: the writer maps paths under its watched
        # directories to their keys by prefix.
        words = ["put", os.path.realpath(os.fsdecode(path))]
        if key is not None:
            words.append(key)
        return self._call(words, self.timeout).as_dict()

    def status(self):
        """The writer's status fields; `stream` (one per append stream) is a list."""
        return self._call(["status"], self.timeout).as_dict(repeated=("stream",))

    def flush(self, wait=True, timeout=None):
        """Returns once everything taken before the call is durable in the store.

        wait=False: succeeds only if that is already so. With `timeout` (seconds) the writer
        gives up after that long; its message names how many files are still owed and the
        last error. Failures raise ControlError.
        """
        if not wait:
            self._call(["flush", "1"], self.timeout)
            return
        if timeout is None:
            self._call(["flush"], None)
            return
        ms = max(1, int(timeout * 1000))
        # The writer answers at its own deadline; the socket waits a little longer for that.
        self._call(["flush", str(ms)], timeout + max(10.0, self.timeout))
