"""One exception family for lvsmon.

Every error says what failed and, where we know it, what to do. The CLI turns
these into one line on stderr and a non-zero exit code; nothing below the CLI
prints or exits.
"""

from collections.abc import Iterable


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


class ConfigError(UsageError):
    """The configuration file is missing, not TOML, or has bad values: every problem found.

    Each problem is one line naming the file, the line, the section and the key
    ("/etc/lvsmon/lvsmon.toml:12: [ipvs] interval: 0.1 out of range 0.5..3600"); the
    message is all of them, one per line.
    """

    def __init__(self, problems: str | Iterable[str]):
        problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


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


class SnapshotDecodeError(LvsmonError):
    """JSON read back from the status socket or a status file lacks the model's shape."""


class ExporterError(LvsmonError):
    """The Prometheus exporter cannot serve: a listen address is taken or refused."""


class WebConfigError(ExporterError):
    """The exporter's web-config file (TLS, basic auth) is missing or not valid.

    ``problems`` lists every problem found, each naming the file, the line and the key, so
    that `lvsmon config check` and a reload can show them all at once."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str] | tuple[str, ...]):
        self.path = path
        self.problems = tuple(problems)
        count = len(self.problems)
        head = "bad web-config file" if count == 1 else f"bad web-config file ({count} problems)"
        super().__init__(f"{head}: " + "; ".join(self.problems),
                         hint="fix the file, then start or reload again")


class AgentxError(LvsmonError):
    """Serving SNMP over AgentX (RFC 2741) failed: a value, an index, a PDU or the master."""
