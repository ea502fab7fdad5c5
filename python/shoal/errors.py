"""What can go wrong talking to shoal, as exceptions a job can tell apart."""


class ShoalError(Exception):
    """Base of every error this package raises."""


class NotAShoalVolume(ShoalError):
    """The path is not on a volume `shoal mount` recorded."""


class DaemonGone(ShoalError):
    """The daemon (shoald or the writer) is not running: nothing listens on its socket."""


class ControlError(ShoalError):
    """The daemon refused the request; `message` is its own message."""

    def __init__(self, message, where=None):
        super().__init__(message if where is None else f"{where}: {message}")
        self.message = message
        self.where = where


class ControlTimeout(ShoalError):
    """No answer within the timeout the call was given."""


class ProtocolError(ShoalError):
    """A reply not in the control protocol's format."""
