"""One exception family for lvsmon.

Every error says what failed and, where we know it, what to do. The CLI turns
these into one line on stderr and a non-zero exit code; nothing below the CLI
prints or exits.
"""


class LvsmonError(Exception):
    """Base of every error lvsmon raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}: {self.hint}"
        return self.message


class UsageError(LvsmonError):
    """A value given on the command line or in the config is not valid."""

    exit_code = 2


class ParseError(LvsmonError):
    """Input from the kernel or a file did not have the expected shape."""

    def __init__(self, path: str, line: int | None, why: str):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {why}")
        self.path = path
        self.line = line
        self.why = why


class KeepalivedConfigError(UsageError):
    """keepalived.conf cannot be read: a broken file, or a bad value in a keyword lvsmon uses.

    Printed as ``FILE:LINE: what: what to do`` (no LINE when the file itself cannot be read).
    """

    def __init__(self, path: str, line: int | None, why: str, hint: str | None = None):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {why}", hint)
        self.path = path
        self.line = line
        self.why = why


class IpvsError(LvsmonError):
    """Reading or changing the IPVS table failed."""


class IpvsUnavailable(IpvsError):
    """This kernel has no IPVS (module not loaded or not built)."""

    exit_code = 3


class PermissionDenied(LvsmonError):
    """The kernel refused: lvsmon lacks a capability it needs."""

    exit_code = 4


class NotFound(LvsmonError):
    """A named service, real server or object does not exist."""

    exit_code = 5


class Timeout(LvsmonError):
    """Waiting for a condition ran out of time."""

    exit_code = 6


class SnatError(LvsmonError):
    """Capturing, storing or querying source-NAT connection records failed."""


class SnatStoreUnavailable(SnatError):
    """The SNAT store cannot be opened or written (missing, read-only, disk full)."""

    exit_code = 7


class VrrpError(LvsmonError):
    """Observing VRRP failed: a raw socket, an interface or a multicast group was refused."""


class StatusSocketError(LvsmonError):
    """The daemon's status socket cannot be served, reached or understood."""


class DaemonNotRunning(StatusSocketError):
    """No lvsmon daemon answers on the status socket."""

    exit_code = 3
