"""`lvsmon snat run`: capture conntrack events, keep SNAT records in every configured sink.

One thread, one loop: read what the event socket holds, turn it into records, and every
flush interval hand one batch to each sink. A sink that fails (disk full, read-only store)
keeps its batches in memory and is retried with a growing pause; the process does not exit.
Beyond max_pending_records the oldest batches are dropped and that loss is recorded.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from lvsmon.errors import LvsmonError, SnatError
from lvsmon.model import SnatConnection
from lvsmon.snat import capture
from lvsmon.snat.config import SnatConfig
from lvsmon.snat.ctnetlink import CtMessage
from lvsmon.snat.record import connection_key, merge_close, to_record
from lvsmon.snat.sink_jsonl import JsonlSink
from lvsmon.snat.sink_syslog import SyslogSink
from lvsmon.snat.store_sqlite import Loss, SqliteStore

log = logging.getLogger("lvsmon.snat")

SYSCTL_DIR = Path("/proc/sys/net/netfilter")
ACCOUNTING_SYSCTLS = ("nf_conntrack_acct", "nf_conntrack_timestamp")
STATUS_INTERVAL_SECONDS = 1.0
PRUNE_INTERVAL_SECONDS = 3600.0


@dataclass
class Batch:
    opens: list[SnatConnection] = field(default_factory=list)
    closes: list[SnatConnection] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.opens) + len(self.closes) + len(self.losses)


class SinkSlot:
    """A sink with the batches it still has to write and its retry schedule."""

    def __init__(self, name: str, opener):
        self.name = name
        self.opener = opener
        self.sink = None
        self.pending: list[Batch] = []
        self.error: str | None = None
        self.retry_at = 0.0
        self.backoff = 0.5
        self.written_records = 0

    def pending_records(self) -> int:
        return sum(len(b.opens) + len(b.closes) for b in self.pending)

    def try_write(self, now: float) -> None:
        if not self.pending or now < self.retry_at:
            return
        try:
            if self.sink is None:
                self.sink = self.opener()
            while self.pending:
                batch = self.pending[0]
                self.sink.write(batch.opens, batch.closes, batch.losses)
                self.written_records += len(batch.opens) + len(batch.closes)
                self.pending.pop(0)
        except LvsmonError as exc:
            if self.error is None:
                log.error("sink %s cannot write, holding records and retrying: %s", self.name, exc)
            self.error = str(exc)
            self.retry_at = now + self.backoff
            self.backoff = min(self.backoff * 2, 30.0)
            return
        if self.error is not None:
            log.warning("sink %s writes again", self.name)
        self.error = None
        self.backoff = 0.5


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


class SnatService:
    def __init__(self, config: SnatConfig):
        self.config = config
        self.slots: list[SinkSlot] = []
        if config.store:
            self.slots.append(SinkSlot("sqlite", lambda: SqliteStore(config.store)))
        if config.jsonl:
            self.slots.append(SinkSlot("jsonl", lambda: JsonlSink(config.jsonl)))
        if config.syslog:
            self.slots.append(SinkSlot("syslog", lambda: SyslogSink(
                config.syslog, config.syslog_facility, config.node)))
        if not self.slots:
            raise SnatError("no sink configured", "give a store, a jsonl file or syslog")
        self.opens: dict[tuple, SnatConnection] = {}
        self.closes: list[SnatConnection] = []
        self.losses: list[Loss] = []
        self.stopping = False
        self.reopen_requested = False
        self.started_ns = time.time_ns()
        self.counts = {"events": 0, "snat_events": 0, "other_events": 0, "dumps": 0,
                       "overflows": 0, "events_dropped": 0, "end_unknown": 0, "store_dropped": 0,
                       "decode_errors": 0}
        self.last_dump_ns: int | None = None
        self._rate = (time.monotonic(), 0, 0.0)  # (since, events then, events per second)
        self.events: capture.EventSocket | None = None
        self.accounting: dict[str, str] = {}

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
        elif message.kind == "dump" or (message.kind == "new" and key not in self.opens):
            self.opens[key] = record  # a dump's start is the kernel's, a NEW's only ours
        return key

    def note_loss(self, kind: str, count: int, detail: str) -> None:
        self.losses.append(Loss(time.time_ns(), self.config.node, kind, count, detail))

    def flush(self) -> None:
        """Hand the records gathered since the last flush to every sink."""
        if self.opens or self.closes or self.losses:
            batch = Batch(list(self.opens.values()), self.closes, self.losses)
            self.opens, self.closes, self.losses = {}, [], []
            for slot in self.slots:
                slot.pending.append(batch)
                self._bound(slot)
        now = time.monotonic()
        for slot in self.slots:
            slot.try_write(now)

    def _bound(self, slot: SinkSlot) -> None:
        dropped = 0
        while len(slot.pending) > 1 and slot.pending_records() > self.config.max_pending_records:
            old = slot.pending.pop(0)
            dropped += len(old.opens) + len(old.closes)
        if dropped:
            self.counts["store_dropped"] += dropped
            slot.pending[-1].losses.append(Loss(
                time.time_ns(), self.config.node, "store_dropped", dropped,
                f"sink {slot.name} could not write; oldest records dropped from memory"))

    # -- dumps -------------------------------------------------------------------

    def redump(self, reason: str) -> None:
        """Record every SNAT connection open now; close stored ones the kernel no longer has."""
        started = time.time_ns()
        seen = set()
        count = 0
        for message in capture.dump_table():
            key = self.handle(message, started)
            count += 1
            if key is not None:
                seen.add(key)
        self.counts["dumps"] += 1
        self.last_dump_ns = started
        log.info("conntrack dump (%s): %d entries, %d source-NATed", reason, count, len(seen))
        self.flush()
        store = self._store()
        if store is None:
            return
        try:
            lost = [row[0] for row in store.open_keys(self.config.node, started)
                    if tuple(row[1:]) not in seen]
            store.close_lost(lost, started, self.config.node)
        except LvsmonError as exc:
            log.error("could not close connections that ended unseen: %s", exc)
            return
        if lost:
            self.counts["end_unknown"] += len(lost)
            log.warning("%d stored connection(s) had ended with their DESTROY event lost",
                        len(lost))

    def _store(self) -> SqliteStore | None:
        for slot in self.slots:
            if slot.name == "sqlite" and slot.sink is not None and not slot.pending:
                return slot.sink
        return None

    # -- status --------------------------------------------------------------------

    def status(self) -> dict:
        since, then, rate = self._rate
        now = time.monotonic()
        if now - since >= 1.0:
            rate = (self.counts["events"] - then) / (now - since)
            self._rate = (now, self.counts["events"], rate)
        return {
            "pid": os.getpid(),
            "node": self.config.node,
            "started_ns": self.started_ns,
            "updated_ns": time.time_ns(),
            "events_per_second": round(rate, 1),
            "receive_buffer_bytes": self.events.receive_buffer_bytes if self.events else None,
            "reliable_delivery": self.config.reliable_delivery,
            "accounting": self.accounting,
            "last_dump_ns": self.last_dump_ns,
            "store": self.config.store,
            **self.counts,
            "lost_events": self.counts["events_dropped"],
            "sinks": {slot.name: {"ok": slot.error is None, "error": slot.error,
                                  "written_records": slot.written_records,
                                  "pending_records": slot.pending_records()}
                      for slot in self.slots},
        }

    def write_status(self) -> None:
        path = Path(self.config.status_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            temporary = path.with_name(path.name + ".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(self.status(), handle)
            os.replace(temporary, path)
        except OSError as exc:
            log.error("cannot write the status file %s: %s", path, exc)

    # -- the loop ------------------------------------------------------------------

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
        for slot in self.slots:  # open the sinks now; errors are reported and retried
            if slot.sink is None:
                slot.pending.append(Batch())
                slot.try_write(time.monotonic())
        self.redump("start")
        poller = select.poll()
        poller.register(self.events.fileno(), select.POLLIN)
        next_flush = next_status = time.monotonic()
        next_prune = time.monotonic() + 5.0
        redump_after = None
        last_redump = time.monotonic()
        while not self.stopping:
            poller.poll(int(config.flush_interval_seconds * 1000))
            messages, overflows = self.events.read()
            seen_ns = time.time_ns()
            for message in messages:
                self.handle(message, seen_ns)
            self.counts["events"] += len(messages)
            self.counts["decode_errors"] = self.events.decode_errors
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
                redump_after = redump_after or time.monotonic()
            now = time.monotonic()
            if redump_after is not None and now - last_redump >= config.redump_min_interval_seconds:
                redump_after, last_redump = None, now
                self.redump("after overflow")
            if self.reopen_requested:
                self.reopen_requested = False
                for slot in self.slots:
                    if slot.sink is not None:
                        try:
                            slot.sink.reopen()
                        except LvsmonError as exc:  # opened again at the next write
                            log.error("sink %s cannot reopen: %s", slot.name, exc)
                            slot.sink = None
                log.info("SIGHUP: sinks reopened")
            if now >= next_flush:
                self.flush()
                next_flush = now + config.flush_interval_seconds
            if now >= next_status:
                self.write_status()
                next_status = now + STATUS_INTERVAL_SECONDS
            if now >= next_prune:
                self.prune()
                next_prune = now + PRUNE_INTERVAL_SECONDS
        self.flush()
        self.write_status()
        for slot in self.slots:
            if slot.pending:
                log.error("stopping with %d record(s) unwritten to %s", slot.pending_records(),
                          slot.name)
            if slot.sink is not None:
                slot.sink.close()
        self.events.close()
        log.info("stopped")

    def prune(self) -> None:
        store = self._store()
        if store is None or self.config.retention_days <= 0:
            return
        cutoff = time.time_ns() - int(self.config.retention_days * 86400e9)
        try:
            gone = store.prune(cutoff)
        except LvsmonError as exc:
            log.error("pruning failed: %s", exc)
            return
        if gone:
            log.info("pruned %d record(s) older than %g days", gone, self.config.retention_days)
