"""Volumes that `shoal mount` recorded, and shoald's control socket behind each.

`shoal mount` keeps one record per volume in $SHOAL_RUN_DIR (default /run/shoal)/<xxh3 of the
mount point>/state.toml (mount/volume_state.h): the canonical mount point, shoald's pid and
control socket, the source. The directory's name is a hash the standard library cannot
compute, so every record is read and the one whose mount point holds the path wins.
"""
import os

from . import _protocol
from .errors import DaemonGone, NotAShoalVolume
from .metrics import parse_prometheus

try:
    import tomllib as _toml
except ImportError:  # Python < 3.11
    _toml = None


def run_dir():
    """Where `shoal mount` keeps its records: $SHOAL_RUN_DIR, else /run/shoal."""
    return os.environ.get("SHOAL_RUN_DIR") or "/run/shoal"


def _parse_basic_string(text):
    out, i = [], 0
    escapes = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
    while i < len(text):
        c = text[i]
        if c == "\\":
            e = text[i + 1]
            if e in escapes:
                out.append(escapes[e])
                i += 2
            elif e in "uU":
                width = 4 if e == "u" else 8
                out.append(chr(int(text[i + 2:i + 2 + width], 16)))
                i += 2 + width
            else:
                raise ValueError(f"unknown escape \\{e}")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_record(text):
    """A state.toml as a dict. tomllib where there is one; else the flat subset toml++ writes
    for these records (strings and integers, one key a line)."""
    if _toml is not None:
        return _toml.loads(text)
    record = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise ValueError(f"not 'key = value': {line!r}")
        key, value = key.strip().strip('"'), value.strip()
        if value.startswith("'") and value.endswith("'") and len(value) >= 2:
            record[key] = value[1:-1]
        elif value.startswith('"') and value.endswith('"') and len(value) >= 2:
            record[key] = _parse_basic_string(value[1:-1])
        else:
            record[key] = int(value)
    return record


def _records():
    base = run_dir()
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = os.path.join(base, name, "state.toml")
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                record = parse_record(f.read())
        except (OSError, ValueError):
            # Gone, or unreadable (`shoal volumes` lists it as such): it names no mount point
            # that can be trusted, so it matches nothing.
            continue
        if isinstance(record.get("mountpoint"), str) and record["mountpoint"]:
            record["state_file"] = path
            found.append(record)
    return found


def volumes():
    """Every volume recorded under run_dir(), by mount point."""
    return [Volume._from_record(r) for r in sorted(_records(), key=lambda r: r["mountpoint"])]


def volume_of(path):
    """The volume `path` (a file or directory on a shoal mount, or its mount point) is on."""
    return Volume.of(path)


def _under(path, mountpoint):
    return path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")


def _pid_alive(pid):
    if not pid:
        return True  # unknown: let the socket tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return True


class HintReport:
    """What shoald made of a hint list: `matched` paths of the volume, `unknown` others
    (including those no hint list can name, such as paths outside the volume), and the first
    of the unknown ones in `unknown_paths`."""

    def __init__(self, matched, unknown, unknown_paths, truncated=False):
        self.matched = matched
        self.unknown = unknown
        self.unknown_paths = unknown_paths
        self.truncated = truncated  # set_hints' max_bytes cut the list short

    def __repr__(self):
        return (f"HintReport(matched={self.matched}, unknown={self.unknown}"
                f"{', truncated=True' if self.truncated else ''})")


class Volume:
    """One shoald, reached through its control socket.

    `Volume.of(path)` finds it from a path on the mount; `Volume(socket)` talks to a socket
    directly (shoald run by hand), in which case hint paths are taken as volume paths.
    """

    def __init__(self, control_socket, mountpoint=None, pid=None, source=None, index=None,
                 frontend=None, timeout=60.0):
        self.control_socket = control_socket
        self.mountpoint = mountpoint
        self.pid = pid
        self.source = source
        self.index = index
        self.frontend = frontend
        self.timeout = timeout
        self._canonical_dirs = {}

    @classmethod
    def _from_record(cls, r):
        return cls(r.get("control_socket", ""), mountpoint=r["mountpoint"], pid=r.get("pid"),
                   source=r.get("source"), index=r.get("index"), frontend=r.get("frontend"))

    @classmethod
    def of(cls, path):
        real = os.path.realpath(os.fsdecode(path))
        matches = [r for r in _records() if _under(real, r["mountpoint"])]
        if not matches:
            raise NotAShoalVolume(
                f"{os.fsdecode(path)} is not on a volume shoal mounted: no record under "
                f"{run_dir()} has a mount point holding {real} (`shoal volumes` lists them)")
        record = max(matches, key=lambda r: len(r["mountpoint"]))
        # A dead daemon's mount may fail even a stat; its volume is still found, and every
        # call on it says the daemon is gone.
        if _pid_alive(record.get("pid")) and not os.path.ismount(record["mountpoint"]):
            raise NotAShoalVolume(f"{os.fsdecode(path)}: shoal recorded a volume at "
                                  f"{record['mountpoint']}, but nothing is mounted there")
        return cls._from_record(record)

    def __repr__(self):
        return f"Volume({self.mountpoint or self.control_socket!r})"

    def _who(self):
        if self.mountpoint:
            return f"shoald of {self.mountpoint} (control socket {self.control_socket})"
        return f"shoald at {self.control_socket}"

    def _gone(self, why):
        hint = f"; `shoal umount {self.mountpoint}` cleans up" if self.mountpoint else ""
        return DaemonGone(f"{self._who()} is gone: {why}{hint}")

    def _open(self, words, body=None):
        if not _pid_alive(self.pid):
            raise self._gone(f"pid {self.pid} is not running")
        try:
            return _protocol.open_call(self.control_socket, words, body, self.timeout, self._who())
        except DaemonGone as exc:
            raise self._gone(str(exc)) from None

    def _call(self, words, body=None):
        reader = self._open(words, body)
        try:
            try:
                reader.status()
            except DaemonGone as exc:
                raise self._gone(str(exc)) from None
            return _protocol.Reply(list(reader.fields()), reader.body())
        finally:
            reader.close()

    def status(self):
        """shoald's `status` fields as a dict (pid, frontend, device_bytes, index, source, …)."""
        return self._call(["status"]).as_dict()

    def report(self):
        """The `volume` report: frontend, attach, image or device, device_bytes, pid."""
        return self._call(["volume"]).as_dict()

    def metrics_text(self):
        """The Prometheus text of `stats`."""
        return self._call(["stats"]).body.decode("utf-8", "replace")

    def stats(self):
        """The metrics as {sample: value}: `shoal_engine_gets_total`, and labelled samples
        under their full name, e.g. `shoal_engine_get_latency_seconds_bucket{le="0.01"}`."""
        return parse_prometheus(self.metrics_text())

    def shutdown(self):
        """Stops shoald as SIGTERM would (the mount is left to `shoal umount`)."""
        self._call(["shutdown"])

    def volume_path(self, path):
        """The path a hint list names for `path`, or None when it is not on this volume.

        Absolute paths must lie under the mount point (symbolic links and `..` in their
        directory are resolved, once per directory); relative paths are volume paths already.
        """
        raw = _protocol._to_bytes(os.fspath(path))
        if not raw.startswith(b"/") or not self.mountpoint:
            return raw
        directory, _, name = raw.rpartition(b"/")
        root = self._canonical_dirs.get(directory)
        if root is None:
            real = os.path.realpath(directory or b"/")
            mount = os.fsencode(self.mountpoint).rstrip(b"/")
            if real == mount:
                root = b""
            elif real.startswith(mount + b"/"):
                root = real[len(mount) + 1:] + b"/"
            else:
                root = False
            self._canonical_dirs[directory] = root
        if root is False or not name:
            return None
        return root + name

    def set_hints(self, paths, keep_unknown=1000, max_bytes=None):
        """Replaces shoald's hint list with `paths`, in the order the job will read them.

        `paths` is any iterable (a generator of millions is fine): they are written to the
        socket as they come, never joined into one string. Returns a HintReport. A path that
        no hint list can name (outside the volume, or with a newline or a trailing carriage
        return) is counted as unknown without being sent. With `max_bytes`, the list stops
        before the body would grow past it (shoald refuses bodies over 64 MiB); the rest of
        `paths` is not read, and the report says `truncated`.
        """
        local_unknown = []
        rejected = [0]

        def reject(path):
            rejected[0] += 1
            if len(local_unknown) < keep_unknown:
                local_unknown.append(os.fsdecode(os.fspath(path)))

        truncated = [False]

        def body():
            buffer, size, total = [], 0, 0
            for path in paths:
                line = self.volume_path(path)
                if line is None or not line.lstrip(b"/") or b"\n" in line or line.endswith(b"\r"):
                    reject(path)
                    continue
                if line.startswith(b"#"):
                    # Not a comment: shoald drops leading slashes after skipping comments.
                    line = b"/" + line
                total += len(line) + 1
                if max_bytes is not None and total > max_bytes:
                    truncated[0] = True
                    break
                buffer.append(line)
                size += len(line) + 1
                if size >= 1 << 18:
                    yield b"\n".join(buffer) + b"\n"
                    buffer, size = [], 0
            if buffer:
                yield b"\n".join(buffer) + b"\n"

        reader = self._open(["hints"], body())
        try:
            try:
                reader.status()
            except DaemonGone as exc:
                raise self._gone(str(exc)) from None
            matched = unknown = 0
            unknown_paths = list(local_unknown)
            for name, value in reader.raw_fields():
                if name == b"unknown_path":
                    if len(unknown_paths) < keep_unknown:
                        unknown_paths.append(_protocol._text(_protocol.decode_value(value)))
                elif name == b"matched":
                    matched = int(value)
                elif name == b"unknown":
                    unknown = int(value)
        finally:
            reader.close()
        return HintReport(matched, unknown + rejected[0], unknown_paths, truncated[0])


__all__ = ["Volume", "HintReport", "volumes", "volume_of", "run_dir"]
