"""The sinks' side of `lvsmon snat run`: one thread that writes batches to every sink.

The capture loop only decodes and hands over batches, so a slow commit, a WAL checkpoint or a
full disk never stops it from draining the event socket. A sink that fails keeps its batches
and is retried with a growing pause (0.5 s up to 30 s); above `max_pending_records` the
oldest batches are dropped and the drop is itself recorded as a loss.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lvsmon.errors import LvsmonError
from lvsmon.model import SnatConnection
from lvsmon.snat.store_sqlite import Loss

log = logging.getLogger("lvsmon.snat")


@dataclass
class Batch:
    opens: list[SnatConnection] = field(default_factory=list)
    closes: list[SnatConnection] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    # After a dump: (keys of the entries it had, when it began). Stores close their open
    # records that the dump did not have: those ended while their DESTROY was lost.
    reconcile: tuple[set, int] | None = None

    @property
    def records(self) -> int:
        return len(self.opens) + len(self.closes)


class SinkSlot:
    """A sink with the batches it still has to write and its retry schedule.

    `pending` is shared with the capture loop under the writer's lock: the loop appends,
    the writer thread removes the first batch once written (and only that one)."""

    def __init__(self, name: str, opener: Callable):
        self.name = name
        self.opener = opener
        self.sink = None
        self.pending: list[Batch] = []
        self.error: str | None = None
        self.retry_at = 0.0
        self.backoff = 0.5
        self.written_records = 0
        self.reopen_requested = False

    def pending_records(self) -> int:
        return sum(batch.records for batch in self.pending)

    def due(self, now: float, stopping: bool = False) -> bool:
        return bool(self.pending) and (stopping or now >= self.retry_at)

    def write(self, batch: Batch, node: str) -> int | None:
        """Write one batch: connections found ended unseen (reconcile), or None if it failed.

        Writing a batch again after a failure is harmless: the store ignores what it has."""
        try:
            if self.sink is None:
                self.sink = self.opener()
            if self.reopen_requested:
                self.reopen_requested = False
                self.sink.reopen()
            self.sink.write(batch.opens, batch.closes, batch.losses)
            ended_unseen = 0
            if batch.reconcile is not None and hasattr(self.sink, "reconcile"):
                ended_unseen = self.sink.reconcile(*batch.reconcile, node)
        except LvsmonError as exc:
            if self.error is None:
                log.error("sink %s cannot write, holding records and retrying: %s", self.name, exc)
            self.error = str(exc)
            self.retry_at = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, 30.0)
            return None
        if self.error is not None:
            log.warning("sink %s writes again", self.name)
        self.error = None
        self.backoff = 0.5
        self.written_records += batch.records
        return ended_unseen


class Writer:
    """Owns the sink slots; `submit()` from the capture loop, writing happens in a thread."""

    def __init__(self, slots: list[SinkSlot], *, node: str, max_pending_records: int,
                 retention_seconds: float, prune_interval_seconds: float = 3600.0):
        self.slots = slots
        self.node = node
        self.max_pending_records = max_pending_records
        self.retention_seconds = retention_seconds
        self.prune_interval_seconds = prune_interval_seconds
        self.dropped_records = 0
        self.ended_unseen = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="snat-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is pending (one more try for failing sinks), then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
        for slot in self.slots:
            if slot.pending_records():
                log.error("stopping with %d record(s) unwritten to %s", slot.pending_records(),
                          slot.name)

    def _close_sinks(self) -> None:
        for slot in self.slots:  # in the writer thread: SQLite connections belong to it
            if slot.sink is not None:
                slot.sink.close()
                slot.sink = None

    def submit(self, batch: Batch) -> None:
        with self._cond:
            for slot in self.slots:
                slot.pending.append(batch)
                self._bound(slot)
            self._cond.notify()

    def reopen(self) -> None:
        """SIGHUP: every sink reopens its file before its next write."""
        with self._cond:
            for slot in self.slots:
                slot.reopen_requested = True
                if not slot.pending:
                    slot.pending.append(Batch())  # so the reopen happens now
            self._cond.notify()

    def _bound(self, slot: SinkSlot) -> None:
        # The first batch may be being written: only later ones are dropped. Their losses
        # move on to the next batch, and batches are replaced, not changed: other sinks
        # share them.
        dropped = 0
        while len(slot.pending) > 2 and slot.pending_records() > self.max_pending_records:
            old = slot.pending.pop(1)
            dropped += old.records
            slot.pending[1] = replace(slot.pending[1], losses=[*old.losses,
                                                               *slot.pending[1].losses])
        if dropped:
            self.dropped_records += dropped
            slot.pending[-1] = replace(slot.pending[-1], losses=[*slot.pending[-1].losses, Loss(
                time.time_ns(), self.node, "store_dropped", dropped,
                f"sink {slot.name} could not write; records dropped from memory")])
            log.error("sink %s: %d record(s) dropped from memory", slot.name, dropped)

    def _run(self) -> None:
        next_prune = time.monotonic() + 5.0
        while True:
            with self._cond:
                now = time.monotonic()
                slot = next((s for s in self.slots if s.due(now, self._stopping)), None)
                if slot is None:
                    if self._stopping:
                        self._close_sinks()
                        return
                    waits = [s.retry_at - now for s in self.slots if s.pending]
                    self._cond.wait(timeout=max(0.01, min([1.0, *waits])))
                    continue
                batch = slot.pending[0]
            ended_unseen = slot.write(batch, self.node)  # outside the lock
            with self._cond:
                if ended_unseen is not None:
                    slot.pending.pop(0)
                    self.ended_unseen += ended_unseen
                    if ended_unseen:
                        log.warning("%d stored connection(s) had ended with their DESTROY "
                                    "event lost", ended_unseen)
                elif self._stopping:  # the last try failed: give up on this sink
                    log.error("stopping with %d record(s) unwritten to %s",
                              slot.pending_records(), slot.name)
                    slot.pending = []
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_interval_seconds
                self.prune()

    def prune(self) -> None:
        if self.retention_seconds <= 0:
            return
        cutoff = time.time_ns() - int(self.retention_seconds * 1e9)
        for slot in self.slots:
            if slot.sink is None or not hasattr(slot.sink, "prune"):
                continue
            try:
                gone = slot.sink.prune(cutoff)
            except LvsmonError as exc:
                log.error("pruning %s failed: %s", slot.name, exc)
                continue
            if gone:
                log.info("pruned %d record(s) older than %g days from %s", gone,
                         self.retention_seconds / 86400, slot.name)
