"""Settings of `lvsmon snat run`: a [snat] table in a TOML file, overridden by options."""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from lvsmon.errors import UsageError

DEFAULT_STORE = "/var/lib/lvsmon/snat.sqlite"
DEFAULT_STATUS_FILE = "/run/lvsmon/snat-status.json"


@dataclass(frozen=True)
class SnatConfig:
    node: str = socket.gethostname()
    store: str | None = DEFAULT_STORE  # SQLite file; None: no SQLite sink
    jsonl: str | None = None  # JSON-lines file for log shippers (reopened on SIGHUP)
    syslog: str | None = None  # local syslog socket, e.g. /dev/log (RFC 5424 datagrams)
    syslog_facility: str = "local0"
    status_file: str = DEFAULT_STATUS_FILE
    # Kernel side of the event socket. A burst of N new connections queues about 2*N
    # events of ~250 bytes each (NEW and DESTROY) before we read them.
    receive_buffer_bytes: int = 64 << 20
    reliable_delivery: bool = True  # NETLINK_BROADCAST_ERROR (see lvsmon.snat.capture)
    record_destinations: bool = True  # False: no destinations stored (RFC 6888 privacy)
    enable_conntrack_accounting: bool = True  # set nf_conntrack_acct and _timestamp to 1
    retention_days: float = 180.0
    flush_interval_seconds: float = 0.2
    redump_min_interval_seconds: float = 2.0
    max_pending_records: int = 2_000_000  # held in memory while a sink cannot write

    def with_options(self, **options) -> SnatConfig:
        """A copy with every option that is not None applied."""
        return replace(self, **{k: v for k, v in options.items() if v is not None})


_NAMES = {f.name: f for f in fields(SnatConfig)}


def load_config(path: str | Path | None) -> SnatConfig:
    if path is None:
        return SnatConfig()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    table = data.get("snat", {})
    unknown = sorted(set(table) - set(_NAMES))
    if unknown:
        raise UsageError(f"{path}: unknown setting(s) in [snat]: {', '.join(unknown)}")
    for key, value in table.items():
        if value == "":
            table[key] = None  # an empty path switches that sink off
    return SnatConfig(**table)
