"""The control protocol of shoald and `shoal writer` (common/control.h), written once.

One request and one reply per connection on a Unix stream socket:

    request = line [body]           line = word *(" " word) "\\n"
    reply   = status *field ["\\n" body]
    status  = "ok\\n" | "error " value "\\n"      field = name " " value "\\n"

Words and names are percent-encoded (a byte 0x21-0x7E other than '%' stands as itself, every
other byte is %XX); values are encoded the same way except that a raw space may stand too. The
body is raw bytes up to the client's shutdown(SHUT_WR). Replies are read as a stream so that a
reply of a million fields (the unknown paths of a hint list) need not be held whole.
"""
import errno
import os
import socket

from .errors import ControlError, ControlTimeout, DaemonGone, ProtocolError

def _table(keep_space):
    table = []
    for b in range(256):
        if (0x20 < b < 0x7F and b != 0x25) or (keep_space and b == 0x20):
            table.append(bytes([b]))
        else:
            table.append(b"%%%02X" % b)
    return table


_WORD = _table(False)
_VALUE = _table(True)
_PRINTABLE_WORD = bytes(range(0x21, 0x7F))
_PRINTABLE_VALUE = bytes(range(0x20, 0x7F))


def _to_bytes(text):
    if isinstance(text, bytes):
        return text
    # Paths: os.fsencode keeps bytes that are not UTF-8 (surrogateescape) as they were.
    return os.fsencode(text)


def encode_word(word):
    """bytes of one word, percent-encoded."""
    raw = _to_bytes(word)
    if not raw.translate(None, _PRINTABLE_WORD) and b"%" not in raw:
        return raw
    return b"".join(_WORD[b] for b in raw)


def encode_value(value):
    raw = _to_bytes(value)
    if not raw.translate(None, _PRINTABLE_VALUE) and b"%" not in raw:
        return raw
    return b"".join(_VALUE[b] for b in raw)


_HEXDIGITS = b"0123456789abcdefABCDEF"


def _decode(text, allow_space, what):
    text = bytes(text)
    allowed = _PRINTABLE_VALUE if allow_space else _PRINTABLE_WORD
    stray = text.translate(None, allowed)
    if stray:
        i = next(i for i, b in enumerate(text) if b not in allowed)
        raise ProtocolError(f"{what}: byte 0x{text[i]:02X} at byte {i} must be percent-encoded")
    if b"%" not in text:
        return text  # the common case, kept off the byte-by-byte path below
    out = bytearray()
    start = 0
    while True:
        i = text.find(b"%", start)
        if i < 0:
            out += text[start:]
            return bytes(out)
        out += text[start:i]
        pair = text[i + 1:i + 3]
        if len(pair) != 2 or pair.translate(None, _HEXDIGITS):
            raise ProtocolError(f"{what}: '%' at byte {i} is not followed by two hex digits")
        out.append(int(pair, 16))
        start = i + 3


def decode_word(text):
    """The bytes a percent-encoded word stands for."""
    return _decode(text, False, "word")


def decode_value(text):
    return _decode(text, True, "value")


def _text(raw):
    return os.fsdecode(raw)


def encode_line(words):
    """The request line, newline included."""
    if not words:
        raise ValueError("a request names a command")
    return b" ".join(encode_word(w) for w in words) + b"\n"


class Reply:
    """A whole reply: its fields in order (names and values as str) and its body (bytes)."""

    def __init__(self, fields=(), body=b""):
        self.fields = list(fields)
        self.body = body

    def get(self, name, default=""):
        for n, v in self.fields:
            if n == name:
                return v
        return default

    def all(self, name):
        return [v for n, v in self.fields if n == name]

    def as_dict(self, repeated=()):
        """Fields as a dict; names in `repeated` map to lists, whole numbers become int."""
        out = {name: [] for name in repeated}
        for name, value in self.fields:
            value = _number(value)
            if name in repeated:
                out[name].append(value)
            elif name not in out:
                out[name] = value
        return out


def _number(value):
    if value and (value.isdigit() or (value[0] == "-" and value[1:].isdigit())) and value.isascii():
        return int(value)
    return value


class _ReplyReader:
    """The reply of one connection, read in order: status, then fields, then the body."""

    def __init__(self, sock, where):
        self._sock = sock
        self._file = sock.makefile("rb", buffering=1 << 16)
        self._where = where
        self._body_started = False

    def _line(self, what):
        try:
            line = self._file.readline()
        except socket.timeout:
            raise ControlTimeout(f"{self._where} did not answer in time") from None
        except ConnectionResetError:
            raise DaemonGone(f"{self._where} closed the connection before its answer") from None
        if not line:
            return None
        if not line.endswith(b"\n"):
            # The server closed mid-line: it stopped, or gave up on a reader slower than its
            # timeout for taking the reply.
            raise ProtocolError(f"the reply from {self._where} was cut off in {what}")
        return line[:-1]

    def status(self):
        """None when ok; else raises ControlError with the server's message."""
        line = self._line("the status line")
        if line is None:
            raise DaemonGone(f"{self._where} closed the connection without an answer "
                             "(the process stopped or crashed)")
        if line == b"ok":
            return
        if line.startswith(b"error "):
            raise ControlError(_text(decode_value(line[6:])), self._where)
        raise ProtocolError(f"malformed reply from {self._where}: the status line is neither "
                            "'ok' nor 'error <message>'")

    def raw_fields(self):
        """Yields (name, value) still encoded, until the empty line before a body or the end
        of the reply: a caller that only counts a million fields need not decode them."""
        while True:
            line = self._line("a field line")
            if line is None:
                return
            if not line:
                self._body_started = True
                return
            name, space, value = line.partition(b" ")
            if not space or not name:
                raise ProtocolError(f"malformed reply from {self._where}: a field line is not "
                                    "'<name> <value>'")
            yield name, value

    def fields(self):
        """Yields (name, value) decoded, as str."""
        for name, value in self.raw_fields():
            yield _text(decode_word(name)), _text(decode_value(value))

    def body(self):
        if not self._body_started:
            return b""
        try:
            return self._file.read()
        except socket.timeout:
            raise ControlTimeout(f"{self._where} did not finish its answer in time") from None

    def close(self):
        self._file.close()
        self._sock.close()


# No socket file, or one nobody listens on (the daemon died and left it behind).
_GONE = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK)


def _is_gone(exc):
    return isinstance(exc, OSError) and exc.errno in _GONE


def _chunks(body):
    if body is None:
        return ()
    if isinstance(body, (bytes, bytearray, memoryview)):
        return (body,)
    return body


def open_call(path, words, body=None, timeout=60.0, who=None):
    """Sends one request and returns the reader of its reply (status not yet read).

    `body` is bytes or an iterable of bytes chunks, sent as it is produced. `timeout` bounds
    each socket operation (None: no bound, for a `flush` that waits for uploads).
    """
    where = who or f"the control socket {path}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            if _is_gone(exc):
                raise DaemonGone(f"nothing is listening on {where} ({exc.strerror})") from None
            raise
        try:
            sock.sendall(encode_line(words))
            for chunk in _chunks(body):
                if chunk:
                    sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            # The server may have answered (a refusal) before it stopped reading: read that.
            pass
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return _ReplyReader(sock, where)
    except socket.timeout:
        sock.close()
        raise ControlTimeout(f"{where} did not take the request within {timeout} s") from None
    except BaseException:
        # The iterable of a streamed body may raise: the connection goes, and with it whatever
        # was sent (the server reads a request cut short as one ending there).
        sock.close()
        raise


def call(path, words, body=None, timeout=60.0, who=None):
    """One request; the whole Reply, or ControlError carrying the server's message."""
    reader = open_call(path, words, body, timeout, who)
    try:
        reader.status()
        fields = list(reader.fields())
        return Reply(fields, reader.body())
    finally:
        reader.close()
