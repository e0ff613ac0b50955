"""What `lvsmon run` publishes: each source's latest snapshot, or why it has none.

The daemon replaces one DaemonState whole on every update (lvsmon.state.StateStore);
the status socket, the exporter, the AgentX subagent and `lvsmon status` only read it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Generic, TypeVar

from lvsmon.model.drain import DrainGuardSnapshot
from lvsmon.model.drift import KeepalivedDiff
from lvsmon.model.frozen import EMPTY, FrozenDict
from lvsmon.model.ipvs import IpvsTable
from lvsmon.model.keepalived import KeepalivedConf
from lvsmon.model.snat import SnatStatus
from lvsmon.model.vrrp import ObserverSnapshot, ParticipantSnapshot

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class SourceState(Generic[S]):
    """A source's latest outcome: its snapshot, or why it has none (and since when)."""

    enabled: bool
    snapshot: S | None = None
    error: str | None = None  # why the last attempt failed; None when it worked
    error_since: float | None = None
    last_success: float | None = None
    attempts: int = 0
    failures: int = 0

    _json_extras = {"available": "available"}

    @property
    def available(self) -> bool:
        return self.enabled and self.error is None and self.snapshot is not None

    def succeeded(self, snapshot: S, now: float) -> SourceState[S]:
        return dataclasses.replace(
            self, snapshot=snapshot, error=None, error_since=None, last_success=now,
            attempts=self.attempts + 1,
        )  # fmt: skip

    def failed(self, reason: str, now: float) -> SourceState[S]:
        """Keeps the last good snapshot (marked stale by error) so history is not lost."""
        since = self.error_since if self.error == reason else now
        return dataclasses.replace(
            self, error=reason, error_since=since, attempts=self.attempts + 1,
            failures=self.failures + 1,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    version: str
    pid: int
    started_at: float
    updated_at: float
    config_path: str | None = None


@dataclass(frozen=True, slots=True)
class FrontendState:
    """A frontend the daemon hosts (the exporter, the AgentX subagent), as it reports itself."""

    running: bool
    error: str | None = None  # why it does not run, or what fails now
    endpoints: tuple[str, ...] = ()  # where it listens, or the master it talks to
    served: tuple[str, ...] = ()  # AgentX: the subtrees it has registered (dotted OIDs)
    # AgentX: subtrees the master refused: "OID" when another subagent holds it
    # (duplicateRegistration), "OID (answer)" for any other refusal
    refused: tuple[str, ...] = ()
    counters: FrozenDict[str, int] = EMPTY  # requests answered, bad requests, reconnects ...
    connected: bool | None = None  # AgentX: a session with the master is open; None: n/a


@dataclass(frozen=True, slots=True)
class DaemonState:
    daemon: DaemonInfo
    vrrp: SourceState[ObserverSnapshot] = SourceState(enabled=False)
    participant: SourceState[ParticipantSnapshot] = SourceState(enabled=False)
    ipvs: SourceState[IpvsTable] = SourceState(enabled=False)
    snat: SourceState[SnatStatus] = SourceState(enabled=False)  # the recorder's status file
    drains: SourceState[DrainGuardSnapshot] = SourceState(enabled=False)  # the drain guard
    frontends: FrozenDict[str, FrontendState] = EMPTY
    keepalived: SourceState[KeepalivedConf] = SourceState(enabled=False)  # [keepalived] config
    keepalived_diff: SourceState[KeepalivedDiff] = SourceState(enabled=False)  # it vs IPVS


# The sources: each name (a DaemonState field) -> its type.
SOURCES = {
    "vrrp": SourceState[ObserverSnapshot],
    "participant": SourceState[ParticipantSnapshot],
    "ipvs": SourceState[IpvsTable],
    "snat": SourceState[SnatStatus],
    "keepalived": SourceState[KeepalivedConf],
    "keepalived_diff": SourceState[KeepalivedDiff],
    "drains": SourceState[DrainGuardSnapshot],
}
# The parts the status socket answers, each with its type ("all" is the whole DaemonState).
PARTS = {"daemon": DaemonInfo, **SOURCES, "frontends": FrozenDict[str, FrontendState],
         "all": DaemonState}  # fmt: skip
