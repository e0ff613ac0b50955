"""`lvsmon snat run`: capture conntrack events, keep SNAT records in every configured sink.

The capture loop (main thread) reads the event socket, turns messages into records and every
flush interval hands one batch to the writer thread (lvsmon.snat.writer), which writes it to
every sink. A failing sink is reported and retried there; the process does not exit.
After an event overflow the table is dumped again, with the event socket still drained
between dump chunks, and records the dump did not have are closed as "end lost".
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import time
from pathlib import Path

from lvsmon.errors import SnatError
from lvsmon.model import SnatConnection
from lvsmon.model.codec import to_json
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.snat import RecorderStatus, SinkStatus
from lvsmon.snat import capture
from lvsmon.snat.config import SnatConfig
from lvsmon.snat.ctnetlink import CtMessage
from lvsmon.snat.record import connection_key, merge_close, to_record
from lvsmon.snat.sink_jsonl import JsonlSink
from lvsmon.snat.sink_syslog import SyslogSink
from lvsmon.snat.store_sqlite import Loss, SqliteStore
from lvsmon.snat.writer import Batch, SinkSlot, Writer

log = logging.getLogger("lvsmon.snat")

SYSCTL_DIR = Path("/proc/sys/net/netfilter")
ACCOUNTING_SYSCTLS = ("nf_conntrack_acct", "nf_conntrack_timestamp")
STATUS_INTERVAL_SECONDS = 1.0
DUMP_PUMP_EVERY = 256  # dump entries between two drains of the event socket


def enable_accounting(sysctl_dir: Path = SYSCTL_DIR) -> dict[str, str]:
    """Turn on conntrack byte/packet accounting and timestamps here; say what was done."""
    outcome = {}
    for name in ACCOUNTING_SYSCTLS:
        path = sysctl_dir / name
        try:
            if path.read_text().strip() == "1":
                outcome[name] = "already on"
            else:
                path.write_text("1\n")
                outcome[name] = "turned on"
        except OSError as exc:
            outcome[name] = f"left off ({exc.strerror})"
    return outcome


def make_slots(config: SnatConfig) -> list[SinkSlot]:
    slots = []
    if config.store:
        slots.append(SinkSlot("sqlite", lambda: SqliteStore(config.store)))
    if config.jsonl:
        slots.append(SinkSlot("jsonl", lambda: JsonlSink(config.jsonl)))
    if config.syslog:
        slots.append(SinkSlot("syslog", lambda: SyslogSink(
            config.syslog, config.syslog_facility, config.node)))
    if not slots:
        raise SnatError("no sink configured", "give a store, a jsonl file or syslog")
    return slots


class SnatService:
    def __init__(self, config: SnatConfig):
        self.config = config
        self.writer = Writer(make_slots(config), node=config.node,
                             max_pending_records=config.max_pending_records,
                             retention_seconds=config.retention_days * 86400)
        self.opens: dict[tuple, SnatConnection] = {}
        self.closes: list[SnatConnection] = []
        self.losses: list[Loss] = []
        self.closed_keys: set[tuple] = set()  # closed in the batch being gathered
        self.stopping = False
        self.reopen_requested = False
        self.started_ns = time.time_ns()
        self.counts = {"events": 0, "snat_events": 0, "other_events": 0, "dumps": 0,
                       "overflows": 0, "events_dropped": 0}
        self.last_dump_ns: int | None = None
        self._rate = (time.monotonic(), 0, 0.0)  # (since, events then, events per second)
        self.events: capture.EventSocket | None = None
        self.accounting: dict[str, str] = {}
        self.redump_wanted = False
        self.dumping = False
        self._next_flush = self._next_status = 0.0

    # -- records ---------------------------------------------------------------

    def handle(self, message: CtMessage, seen_ns: int) -> tuple | None:
        record = to_record(message, node=self.config.node, seen_ns=seen_ns,
                           record_destinations=self.config.record_destinations)
        if record is None:
            self.counts["other_events"] += 1
            return None
        self.counts["snat_events"] += 1
        key = connection_key(record)
        if message.kind == "destroy":
            opened = self.opens.pop(key, None)
            self.closes.append(record if opened is None else merge_close(opened, record))
            self.closed_keys.add(key)
        elif message.kind == "new":
            if key in self.closed_keys:
                # The kernel reused the id for the same tuples: the first connection's close
                # must be written before the second one's open.
                self.flush()
            self.opens.setdefault(key, record)
        elif message.kind == "dump" and key not in self.closed_keys:
            self.opens[key] = record  # a dump's start is the kernel's, a NEW's only ours
        return key

    def note_loss(self, kind: str, count: int, detail: str) -> None:
        self.losses.append(Loss(time.time_ns(), self.config.node, kind, count, detail))

    def flush(self, reconcile: tuple[set, int] | None = None) -> None:
        """Hand the records gathered since the last flush to the writer."""
        if self.opens or self.closes or self.losses or reconcile:
            self.writer.submit(Batch(list(self.opens.values()), self.closes, self.losses,
                                     reconcile))
            self.opens, self.closes, self.losses = {}, [], []
            self.closed_keys = set()

    def pump_events(self) -> None:
        """Read and handle what the event socket holds now; account for any overflow."""
        messages, overflows = self.events.read()
        seen_ns = time.time_ns()
        for index, message in enumerate(messages):
            # +index ns: approximate starts stay distinct (they are part of a record's identity)
            self.handle(message, seen_ns + index)
        self.counts["events"] += len(messages)
        dropped = self.events.update_dropped()
        if overflows or dropped:
            self.counts["overflows"] += overflows
            self.counts["events_dropped"] += dropped
            if overflows:
                self.note_loss("enobufs", overflows, "event socket overflow (ENOBUFS)")
            if dropped:
                self.note_loss("events_dropped", dropped, "conntrack events the kernel "
                               "dropped: receive buffer full")
            log.warning("event socket overflow: %d event(s) dropped now, %d in all "
                        "(ENOBUFS %d in all); re-dumping the table", dropped,
                        self.counts["events_dropped"], self.counts["overflows"])
            self.redump_wanted = True

    # -- dumps -------------------------------------------------------------------

    def redump(self, reason: str) -> None:
        """Record every SNAT connection open now; stores close those the kernel no longer has."""
        self.redump_wanted = False
        self.dumping = True
        started = time.time_ns()
        seen = set()
        count = 0
        for message in capture.dump_table():
            key = self.handle(message, started)
            count += 1
            if key is not None:
                seen.add(key)
            if count % DUMP_PUMP_EVERY == 0:
                self.pump_events()  # a long dump must not starve the event socket
                self.tick()
        self.counts["dumps"] += 1
        self.dumping = False
        self.last_dump_ns = started
        log.info("conntrack dump (%s): %d entries, %d source-NATed", reason, count, len(seen))
        self.flush(reconcile=(seen, started))

    # -- status --------------------------------------------------------------------

    def status(self) -> RecorderStatus:
        since, then, rate = self._rate
        now = time.monotonic()
        if now - since >= 1.0:
            rate = (self.counts["events"] - then) / (now - since)
            self._rate = (now, self.counts["events"], rate)
        return RecorderStatus(
            pid=os.getpid(),
            node=self.config.node,
            started_ns=self.started_ns,
            updated_ns=time.time_ns(),
            stopped=self.stopping,
            events_per_second=round(rate, 1),
            receive_buffer_bytes=self.events.receive_buffer_bytes if self.events else None,
            reliable_delivery=self.config.reliable_delivery,
            accounting=FrozenDict(self.accounting),
            last_dump_ns=self.last_dump_ns,
            dumping=self.dumping,
            store=self.config.store,
            **self.counts,
            end_unknown=self.writer.ended_unseen,
            store_dropped=self.writer.dropped_records,
            decode_errors=self.events.decode_errors if self.events else 0,
            sinks=FrozenDict({
                slot.name: SinkStatus(ok=slot.error is None, error=slot.error,
                                      written_records=slot.written_records,
                                      pending_records=slot.pending_records())
                for slot in self.writer.slots
            }),
        )  # fmt: skip

    def write_status(self) -> None:
        path = Path(self.config.status_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            temporary = path.with_name(path.name + ".tmp")
            # 0640: check_snat runs as nrpe's user, in the recorder's group (deploy/nrpe-lvsmon.cfg)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            with os.fdopen(fd, "w") as handle:
                json.dump(to_json(self.status()), handle)
            os.replace(temporary, path)
        except OSError as exc:
            log.error("cannot write the status file %s: %s", path, exc)

    # -- the loop ------------------------------------------------------------------

    def tick(self) -> None:
        """Flush and write the status when their time has come (also during long dumps)."""
        now = time.monotonic()
        if now >= self._next_flush:
            self.flush()
            self._next_flush = now + self.config.flush_interval_seconds
        if now >= self._next_status:
            self.write_status()
            self._next_status = now + STATUS_INTERVAL_SECONDS

    def _signals(self) -> None:
        def stop(_signum, _frame):
            self.stopping = True

        def reopen(_signum, _frame):
            self.reopen_requested = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reopen)

    def run(self) -> None:
        config = self.config
        self._signals()
        if config.enable_conntrack_accounting:
            self.accounting = enable_accounting()
            for name, what in self.accounting.items():
                log.info("net.netfilter.%s: %s", name, what)
        # Subscribe first, then dump: a connection made in between is in one or the other.
        self.events = capture.EventSocket(config.receive_buffer_bytes,
                                          reliable=config.reliable_delivery)
        log.info("listening to conntrack NEW and DESTROY events on node %s "
                 "(receive buffer %d bytes, reliable delivery %s)", config.node,
                 self.events.receive_buffer_bytes, "on" if config.reliable_delivery else "off")
        self.writer.start()
        self.redump("start")
        poller = select.poll()
        poller.register(self.events.fileno(), select.POLLIN)
        last_redump = time.monotonic()
        try:
            while not self.stopping:
                poller.poll(int(config.flush_interval_seconds * 1000))
                self.pump_events()
                if (self.redump_wanted and time.monotonic() - last_redump
                        >= config.redump_min_interval_seconds):
                    self.flush()
                    self.redump("after overflow")
                    last_redump = time.monotonic()
                if self.reopen_requested:
                    self.reopen_requested = False
                    self.writer.reopen()
                    log.info("SIGHUP: sinks reopened")
                self.tick()
        finally:
            self.flush()
            self.writer.stop()
            self.write_status()
            self.events.close()
        log.info("stopped")
