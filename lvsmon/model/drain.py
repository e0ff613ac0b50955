"""The drains the daemon holds (lvsmon.drain_guard): what `lvsmon drain` saved, and what
keepalived did to them since.

Services and real servers are spelled as `lvsmon drain` takes them (``tcp:10.0.0.1:80``,
``10.0.1.2:80``), so a line of `lvsmon status` can be pasted into `lvsmon undrain`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeldDrain:
    """One entry of drained.json, as the guard last saw it in the kernel."""

    service: str
    real_server: str
    saved_weight: int  # what it had when drained (undrain's weight without keepalived.conf)
    drained_at: str | None  # ISO 8601, as drain wrote it
    weight: int | None  # in IPVS after the guard's last look; None: not in the table now
    reasserted: int = 0  # times the guard set weight 0 again since the daemon started
    last_reasserted_at: float | None = None
    restored_weight: int | None = None  # the weight it found the last time (keepalived's)


@dataclass(frozen=True, slots=True)
class DrainGuardSnapshot:
    state_dir: str  # where drained.json is read (drain and undrain must use the same)
    interval_seconds: float  # between two looks at the kernel
    drains: tuple[HeldDrain, ...] = ()
    checks: int = 0  # looks since the daemon started
    reasserted_total: int = 0  # weight-0 writes since the daemon started, all drains
    checked_at: float | None = None  # the last look, seconds since the epoch
    problems: tuple[str, ...] = ()  # entries of drained.json the guard cannot read (left alone)

    def held(self, service: str, real_server: str) -> HeldDrain | None:
        for drain in self.drains:
            if (drain.service, drain.real_server) == (service, real_server):
                return drain
        return None
