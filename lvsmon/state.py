"""The daemon's published state: one immutable snapshot, replaced whole on every update.

Sources publish (``store.publish(vrrp=...)`` builds a new DaemonState); readers
(the status socket, later the exporter and the AgentX subagent) take
``store.current`` and only read it. A reader never waits on a source and never
sees half an update: the swap of one reference is the only shared write.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

from lvsmon import __version__
from lvsmon.model import IpvsTable
from lvsmon.vrrp.participant import ParticipantSnapshot
from lvsmon.vrrp.view import ObserverSnapshot

PARTS = ("daemon", "vrrp", "participant", "ipvs", "all")


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's latest outcome: its snapshot, or why it has none (and since when)."""

    enabled: bool
    snapshot: object | None = None  # ObserverSnapshot, ParticipantSnapshot or IpvsTable
    error: str | None = None  # why the last attempt failed; None when it worked
    error_since: float | None = None
    last_success: float | None = None
    attempts: int = 0
    failures: int = 0

    @property
    def available(self) -> bool:
        return self.enabled and self.error is None and self.snapshot is not None

    def succeeded(self, snapshot: object, now: float) -> SourceState:
        return dataclasses.replace(
            self, snapshot=snapshot, error=None, error_since=None, last_success=now,
            attempts=self.attempts + 1,
        )  # fmt: skip

    def failed(self, reason: str, now: float) -> SourceState:
        """Keeps the last good snapshot (marked stale by error) so history is not lost."""
        since = self.error_since if self.error == reason else now
        return dataclasses.replace(
            self, error=reason, error_since=since, attempts=self.attempts + 1,
            failures=self.failures + 1,
        )  # fmt: skip

    def status_dict(self) -> dict:
        return {
            "enabled": self.enabled,
            "available": self.available,
            "error": self.error,
            "error_since": self.error_since,
            "last_success": self.last_success,
            "attempts": self.attempts,
            "failures": self.failures,
        }


DISABLED = SourceState(enabled=False)


@dataclass(frozen=True, slots=True)
class DaemonState:
    started_at: float
    version: str = __version__
    pid: int = 0
    config_path: str | None = None
    vrrp: SourceState = DISABLED
    participant: SourceState = DISABLED
    ipvs: SourceState = DISABLED
    updated_at: float = 0.0

    def as_dict(self, part: str = "all", now: float | None = None) -> dict:
        """JSON-ready; part is one of PARTS."""
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}: one of {', '.join(PARTS)}")
        now = time.time() if now is None else now
        document = {"daemon": self._daemon_dict(now)}
        if part in ("vrrp", "all"):
            document["vrrp"] = _vrrp_dict(self.vrrp)
        if part in ("participant", "all"):
            document["participant"] = _participant_dict(self.participant)
        if part in ("ipvs", "all"):
            document["ipvs"] = _ipvs_dict(self.ipvs)
        return document

    def _daemon_dict(self, now: float) -> dict:
        return {
            "version": self.version,
            "pid": self.pid,
            "config": self.config_path,
            "started_at": self.started_at,
            "uptime_seconds": max(0.0, now - self.started_at),
            "updated_at": self.updated_at,
        }


def _vrrp_dict(source: SourceState) -> dict:
    document = source.status_dict()
    snapshot: ObserverSnapshot | None = source.snapshot
    if snapshot is not None:
        document.update(
            taken_at=snapshot.taken_at,
            interfaces=list(snapshot.interfaces),
            segments=[view.as_dict() for view in snapshot.segments],
            decode_stats=snapshot.decode_stats,
            warnings=list(snapshot.warnings),
        )
    return document


def _participant_dict(source: SourceState) -> dict:
    document = source.status_dict()
    snapshot: ParticipantSnapshot | None = source.snapshot
    if snapshot is not None:
        document.update(
            taken_at=snapshot.taken_at,
            instances=[instance.as_dict() for instance in snapshot.instances],
        )
    return document


def _ipvs_dict(source: SourceState) -> dict:
    document = source.status_dict()
    table: IpvsTable | None = source.snapshot
    if table is not None:
        document["table"] = _plain(dataclasses.asdict(table))
    return document


def _plain(value):
    """Tuples to lists, so the JSON shape does not depend on how asdict copies."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


class StateStore:
    """Holds the current DaemonState; publish() replaces it whole."""

    def __init__(self, state: DaemonState | None = None, clock=time.time):
        self.clock = clock
        self.current = state or DaemonState(started_at=clock(), pid=os.getpid())

    def publish(self, **changes) -> DaemonState:
        self.current = dataclasses.replace(self.current, updated_at=self.clock(), **changes)
        return self.current
