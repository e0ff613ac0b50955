"""Settings of `lvsmon snat run`: a [snat] table in a TOML file, overridden by options."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, fields, replace
from pathlib import Path

from lvsmon.config_reader import Document, Problems, Table, read_document, show

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


_FIELDS = {f.name: f for f in fields(SnatConfig)}
# Lower bounds of the numbers; a value below is a mistake worth an error, not a surprise.
_MINIMUM = {
    "receive_buffer_bytes": 4096,
    "retention_days": 0,
    "flush_interval_seconds": 0.01,
    "redump_min_interval_seconds": 0,
    "max_pending_records": 1,
}


def load_config(path: str | Path | None) -> SnatConfig:
    """The [snat] table of a TOML file, checked key by key (ConfigError lists every problem)."""
    if path is None:
        return SnatConfig()
    return from_document(read_document(path))


def from_document(document: Document) -> SnatConfig:
    problems = Problems(document.path, document.lines)
    read = Table.root(problems, document.data).section("snat", _FIELDS)
    values = {}
    for key, value in read.data.items():
        if key in _FIELDS:
            values[key] = _checked(read, key, value)
    problems.raise_if_any()
    return SnatConfig(**values)


def _checked(read: Table, key: str, value):
    """The value of `key`, or the default after recording why it is bad."""
    default = getattr(SnatConfig, key)
    kind = type(default)
    if _FIELDS[key].type == "str | None":
        if not isinstance(value, str):
            read.fail(key, f'{show(value)} must be a path, or "" to switch it off')
            return default
        return value or None  # an empty path switches that sink off
    if kind is bool or kind is str:
        if not isinstance(value, kind):
            read.fail(key, f"{show(value)} must be {'true or false' if kind is bool else 'text'}")
            return default
        return value
    wanted = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted):
        read.fail(key, f"{show(value)} must be {'a whole number' if kind is int else 'a number'}")
        return default
    if value < _MINIMUM.get(key, value):
        read.fail(key, f"{show(value)} is below {_MINIMUM[key]}")
        return default
    return kind(value)


def store_path_for(config_path: str | None, store: str | None) -> str:
    """The store a reader opens: --store, else the config's, else $LVSMON_SNAT_STORE, else the
    default. (The recorder's status file names the store it writes, which readers prefer.)"""
    if store:
        return store
    if config_path:
        return load_config(config_path).store or DEFAULT_STORE
    return os.environ.get("LVSMON_SNAT_STORE", DEFAULT_STORE)
