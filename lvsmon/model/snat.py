"""Source-NAT connection records, and what the recorder (`lvsmon snat run`) reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lvsmon.model.addresses import join_host_port
from lvsmon.model.frozen import EMPTY, FrozenDict


def iso_utc(ns: int | None) -> str | None:
    """2026-11-24T10:03:12.123456Z (microseconds: what datetime holds)."""
    if ns is None:
        return None
    try:
        moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(
            microsecond=(ns % 1_000_000_000) // 1000)
    except (OverflowError, OSError, ValueError):
        return f"@{ns}ns"  # outside what a calendar date can show; still the exact value
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class SnatConnection:
    """One source-NATed connection as conntrack saw it (lvsmon.snat).

    "Inside" is the client's own address (original tuple source), "translated" is what the
    far side saw (reply tuple destination). ``original_destination`` is what the client
    addressed (e.g. an IPVS virtual service), ``real_destination`` whom it reached (reply
    tuple source, e.g. the real server); both are None when recording destinations is off.
    Times are UTC nanoseconds since the epoch; ``end_ns`` is None while the connection is open.
    """

    protocol: str  # "tcp", "udp", "sctp", "icmp", "icmpv6" or the protocol number
    family: str  # "inet" / "inet6"
    inside_address: str
    inside_port: int | None  # None for protocols without ports
    translated_address: str
    translated_port: int | None
    start_ns: int
    end_ns: int | None = None
    original_destination_address: str | None = None
    original_destination_port: int | None = None
    real_destination_address: str | None = None
    real_destination_port: int | None = None
    conntrack_id: int = 0
    zone: int = 0
    mark: int = 0
    node: str = ""
    # Exact kernel times (nf_conntrack_timestamp) or when lvsmon saw the event.
    start_exact: bool = False
    # The DESTROY event was lost: the connection ended at or before end_ns, not exactly then.
    end_lost: bool = False
    packets_out: int | None = None  # client -> far side (original direction); None: no acct
    bytes_out: int | None = None
    packets_in: int | None = None  # far side -> client (reply direction)
    bytes_in: int | None = None

    # JSON lines and --json: the ns integers plus ISO 8601 UTC for people and log shippers.
    _json_extras = {"start": "start_iso", "end": "end_iso"}

    @property
    def start_iso(self) -> str:
        return iso_utc(self.start_ns)

    @property
    def end_iso(self) -> str | None:
        return iso_utc(self.end_ns)

    @property
    def inside(self) -> str:
        return join_host_port(self.inside_address, self.inside_port)

    @property
    def translated(self) -> str:
        return join_host_port(self.translated_address, self.translated_port)


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """One sink of the recorder (sqlite, jsonl, syslog)."""

    ok: bool
    error: str | None  # why it fails now; the recorder holds its records and retries
    written_records: int
    pending_records: int


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """What `lvsmon snat run` writes to its status file every second. Counters start at 0
    when the recorder starts; times are ns since the epoch (UTC)."""

    pid: int
    node: str
    started_ns: int
    updated_ns: int
    stopped: bool  # it ended cleanly
    events_per_second: float
    receive_buffer_bytes: int | None  # the kernel's grant for the event socket
    reliable_delivery: bool
    accounting: FrozenDict[str, str]  # sysctl -> what the recorder did about it
    last_dump_ns: int | None
    dumping: bool
    store: str | None  # the SQLite store it writes, if any
    events: int  # conntrack events read
    snat_events: int  # of source-NATed connections (the ones recorded)
    other_events: int
    dumps: int  # table dumps, the one at start included
    overflows: int  # ENOBUFS on the event socket
    events_dropped: int  # the kernel's drop count of the event socket
    end_unknown: int  # connections whose end was not seen (DESTROY lost)
    store_dropped: int  # records no sink could take in time
    decode_errors: int
    sinks: FrozenDict[str, SinkStatus] = EMPTY

    _json_extras = {"lost_events": "lost_events"}

    @property
    def lost_events(self) -> int:
        """Events lost since the recorder started: the kernel's drop count, or where the
        kernel gives none, one per overflow (ENOBUFS)."""
        return max(self.events_dropped, self.overflows)

    @property
    def redumps(self) -> int:
        return max(self.dumps - 1, 0)

    @property
    def failing_sinks(self) -> tuple[str, ...]:
        return tuple(name for name, sink in sorted(self.sinks.items()) if not sink.ok)


@dataclass(frozen=True, slots=True)
class StoreSummary:
    """The SQLite store at one reading."""

    records: int
    open_records: int
    oldest_start_ns: int | None
    newest_start_ns: int | None
    lost_by_kind: FrozenDict[str, int] = EMPTY  # losses on record, every run


@dataclass(frozen=True, slots=True)
class SnatStatus:
    """One reading of the recorder's status file and its store (lvsmon.snat.status)."""

    status_file: str
    read_ns: int
    stale_after_seconds: float
    running: bool  # status file fresh, not stopped, process alive
    recorder: RecorderStatus | None  # None: the status file could not be read
    problem: str | None = None  # why the status file could not be read
    store_path: str | None = None
    store: StoreSummary | None = None
    store_problem: str | None = None

    _json_extras = {"not_running_because": "not_running_because"}

    @property
    def lost_events(self) -> int:
        return self.recorder.lost_events if self.recorder else 0

    @property
    def not_running_because(self) -> str | None:
        """Why the recorder is taken as not running, in words; None when it runs."""
        if self.running:
            return None
        if self.problem or self.recorder is None:
            return self.problem or "no status"
        recorder = self.recorder
        if recorder.stopped:
            return f"stopped at {iso_utc(recorder.updated_ns)}"
        age = (self.read_ns - recorder.updated_ns) / 1e9
        if age >= self.stale_after_seconds:
            return f"status file {self.status_file} not updated for {age:.0f} s"
        return f"process {recorder.pid} is gone"
