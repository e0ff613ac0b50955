"""Where `lvsmon run` logs: stderr (journald under systemd) or a local syslog socket.

    configure(config.log, verbose)   # at start
    configure(new_config.log)        # on reload: switches target, facility and level in
                                     # place, keeps -v

Levels are Python's plus NOTICE (25, syslog's "notice"): the state changes an operator
wants to see (lvsmon.events) are logged at NOTICE, so `level = "notice"` keeps them and
drops the routine INFO lines.

stderr: "LEVEL logger: message"; when stderr is a journal stream (systemd sets
$JOURNAL_STREAM) each line starts with "<N>", the syslog priority journald files it under.

syslog: one datagram per record to [log] syslog_socket, RFC 3164 style as glibc's syslog(3)
writes it ("<PRI>Mmm dd hh:mm:ss lvsmon[PID]: logger: message"), PRI from [log] facility and
the record's level. While the socket is missing or refuses, records go to stderr instead;
that is said once per outage, and the next record that gets through ends it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time

from lvsmon.config import LogConfig

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": NOTICE,
          "warning": logging.WARNING, "error": logging.ERROR}  # fmt: skip
# Syslog severities (RFC 5424 section 6.2.1) of each level name.
_SEVERITIES = {"DEBUG": 7, "INFO": 6, "NOTICE": 5, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}
IDENT = "lvsmon"
STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"


_verbose = False  # the last choice of configure(); a reload keeps `lvsmon run -v`


def configure(log: LogConfig, verbose: bool | None = None) -> None:
    """Send the root logger's records to `log.target` at `log.level`; verbose: debug.

    verbose None keeps the previous call's choice (False at first), so that a reload,
    which passes only the new LogConfig, keeps `lvsmon run -v`. Replaces only the handler
    an earlier call installed (others, e.g. pytest's, stay); called again with the same
    settings, it changes nothing.
    """
    global _verbose
    if verbose is not None:
        _verbose = verbose
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if _verbose else LEVELS[log.level])
    ours = [handler for handler in root.handlers if isinstance(handler, _Ours)]
    if ours and all(handler.settings == log for handler in ours):
        return
    handler = _SyslogHandler(log) if log.target == "syslog" else _StderrHandler(log)
    root.addHandler(handler)
    for old in ours:
        root.removeHandler(old)
        old.close()


class _Ours:
    """Marks the handlers configure() installs; `settings` is the LogConfig they follow."""

    settings: LogConfig


class JournalFormatter(logging.Formatter):
    """Under systemd (stderr is a journal stream), "<4>" prefixes carry each line's priority."""

    def __init__(self, fmt: str = STDERR_FORMAT):
        super().__init__(fmt)
        self.journal = bool(os.environ.get("JOURNAL_STREAM"))

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.journal:
            return text
        prefix = f"<{_SEVERITIES.get(record.levelname, 6)}>"
        return "\n".join(prefix + line for line in text.splitlines())


class _StderrHandler(logging.StreamHandler, _Ours):
    def __init__(self, settings: LogConfig):
        super().__init__(sys.stderr)
        self.settings = settings
        self.setFormatter(JournalFormatter())


class _SyslogFormatter(logging.Formatter):
    """The part after <PRI>: local time stamp, "lvsmon[PID]:", logger name and message."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        stamp = time.localtime(record.created)
        # RFC 3164 4.1.2: "Mmm dd hh:mm:ss", the day padded with a space, English month.
        month = "JanFebMarAprMayJunJulAugSepOctNovDec"[3 * stamp.tm_mon - 3 : 3 * stamp.tm_mon]
        clock = f"{month} {stamp.tm_mday:2d} {time.strftime('%H:%M:%S', stamp)}"
        return f"{clock} {IDENT}[{os.getpid()}]: {record.name}: {text}"


class _SyslogHandler(logging.handlers.SysLogHandler, _Ours):
    """SysLogHandler on a unix socket, with NOTICE, and stderr while the socket fails."""

    def __init__(self, settings: LogConfig):
        super().__init__(
            address=settings.syslog_socket,
            facility=logging.handlers.SysLogHandler.facility_names[settings.facility],
        )
        self.settings = settings
        self.append_nul = False  # glibc sends none; some receivers keep it in the text
        self.priority_map = {**self.priority_map, "NOTICE": "notice"}
        self.setFormatter(_SyslogFormatter())
        self.fallback = _StderrHandler(settings)
        self.down = False  # the last send failed; records go to stderr
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)  # calls handleError() when the send fails
        if self.down and not self._failed:
            self.down = False
            self.fallback.handle(_note(f"syslog socket {self.settings.syslog_socket}: "
                                       "reachable again, logging there"))  # fmt: skip

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed = True
        if not self.down:
            self.down = True
            why = sys.exc_info()[1]
            self.fallback.handle(_note(
                f"syslog socket {self.settings.syslog_socket} unavailable ({_reason(why)}): "
                "logging to stderr until it is back", logging.WARNING,
            ))  # fmt: skip
        self.fallback.handle(record)

    def close(self) -> None:
        self.fallback.close()
        super().close()


def _reason(error: BaseException | None) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return repr(error)


def _note(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(__name__, level, __file__, 0, message, None, None)
