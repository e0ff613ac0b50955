"""Frozen snapshots of what the VRRP observer knows, for frontends (CLI, exporter, SNMP, checks).

One ``SegmentView`` per (interface, family, VRID). Times are seconds on the clock
the observer was fed with (``time.time()`` in the daemon and CLI). These belong
to the shared vocabulary and may move to ``lvsmon.model`` as it grows.
"""

from __future__ import annotations

from dataclasses import dataclass

# Anomaly names, as reported in views, JSON and logs.
SPLIT_BRAIN = "split_brain"  # two or more routers advertising for longer than Master_Down_Interval
NO_MASTER = "no_master"  # silence after a master was seen, longer than any backup needs
GRACEFUL_RELEASE = "graceful_release"  # a master sent priority 0; ends when a master advertises
VRID_COLLISION = "vrid_collision"  # routers with disjoint VIP sets: two groups share one VRID
INTERVAL_MISMATCH = "interval_mismatch"
AUTH_MISMATCH = "auth_mismatch"  # VRRPv2 auth type or password differ
VIP_MISMATCH = "vip_mismatch"  # overlapping but different VIP sets
VERSION_MISMATCH = "version_mismatch"
DUPLICATE_OWNER = "duplicate_owner"  # two routers claim priority 255 (address owner)
FLAPPING = "flapping"  # more master changes in the window than the threshold
BAD_TTL = "bad_ttl"  # TTL / hop limit not 255
BAD_CHECKSUM = "bad_checksum"  # checksum matches none of the known forms

ANOMALY_NAMES = (
    SPLIT_BRAIN,
    NO_MASTER,
    GRACEFUL_RELEASE,
    VRID_COLLISION,
    INTERVAL_MISMATCH,
    AUTH_MISMATCH,
    VIP_MISMATCH,
    VERSION_MISMATCH,
    DUPLICATE_OWNER,
    FLAPPING,
    BAD_TTL,
    BAD_CHECKSUM,
)


def master_down_interval(advert_interval_seconds: float, priority: int) -> float:
    """RFC 5798 section 6.1: 3 x Master_Adver_Interval + Skew_Time."""
    return 3 * advert_interval_seconds + skew_time(advert_interval_seconds, priority)


def skew_time(advert_interval_seconds: float, priority: int) -> float:
    """RFC 5798 section 6.1: ((256 - priority) x Master_Adver_Interval) / 256."""
    return (256 - priority) * advert_interval_seconds / 256


@dataclass(frozen=True, slots=True)
class RouterSeen:
    """One router heard on a segment, as its latest advert describes it."""

    address: str
    version: int
    priority: int
    advert_interval_centiseconds: int
    auth_type: str | None  # v2 only
    vips: tuple[str, ...]
    checksum_form: str | None  # None: the last advert matched no checksum form
    ttl: int
    adverts: int
    first_seen: float
    last_seen: float
    advertising: bool  # sent a non-zero priority within its Master_Down_Interval

    @property
    def advert_interval_seconds(self) -> float:
        return self.advert_interval_centiseconds / 100

    def as_dict(self) -> dict:
        return {
            "address": self.address,
            "version": self.version,
            "priority": self.priority,
            "advert_interval": self.advert_interval_seconds,
            "auth_type": self.auth_type,
            "vips": list(self.vips),
            "checksum_form": self.checksum_form,
            "ttl": self.ttl,
            "adverts": self.adverts,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "advertising": self.advertising,
        }


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A detection with its time span; ``end`` is None while it lasts."""

    name: str  # one of ANOMALY_NAMES
    start: float
    end: float | None
    routers: tuple[str, ...]  # the routers involved (may be empty, e.g. no_master)
    detail: str

    @property
    def active(self) -> bool:
        return self.end is None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "start": self.start,
            "end": self.end,
            "routers": list(self.routers),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class SegmentEvent:
    """One line of a segment's log: a router appeared, the master changed, an anomaly began."""

    at: float
    kind: str  # "router_heard", "master", "release", "anomaly_start", "anomaly_end"
    detail: str

    def as_dict(self) -> dict:
        return {"at": self.at, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SegmentView:
    """Everything known about one VRID on one interface and address family."""

    interface: str
    family: str  # "inet" / "inet6"
    vrid: int
    master: str | None  # the advertising router (highest priority if several)
    master_since: float | None
    master_changes: int
    routers: tuple[RouterSeen, ...]
    anomalies: tuple[Anomaly, ...]  # active ones and those that ended, oldest first
    events: tuple[SegmentEvent, ...]  # the most recent ones, oldest first
    taken_at: float

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.interface, self.family, self.vrid)

    @property
    def active_anomalies(self) -> tuple[Anomaly, ...]:
        return tuple(anomaly for anomaly in self.anomalies if anomaly.active)

    @property
    def anomaly_names(self) -> tuple[str, ...]:
        """Names of the anomalies active now, each once, in ANOMALY_NAMES order."""
        active = {anomaly.name for anomaly in self.anomalies if anomaly.active}
        return tuple(name for name in ANOMALY_NAMES if name in active)

    def router(self, address: str) -> RouterSeen | None:
        for router in self.routers:
            if router.address == address:
                return router
        return None

    def as_dict(self) -> dict:
        return {
            "interface": self.interface,
            "family": self.family,
            "vrid": self.vrid,
            "master": self.master,
            "master_since": self.master_since,
            "master_changes": self.master_changes,
            "routers": [router.as_dict() for router in self.routers],
            "anomalies": list(self.anomaly_names),
            "anomaly_history": [anomaly.as_dict() for anomaly in self.anomalies],
            "events": [event.as_dict() for event in self.events],
            "taken_at": self.taken_at,
        }


@dataclass(frozen=True, slots=True)
class ObserverSnapshot:
    """All segments an observer knows, plus what its sockets rejected, per interface."""

    taken_at: float
    interfaces: tuple[str, ...]
    segments: tuple[SegmentView, ...]
    decode_stats: dict  # interface -> DecodeStats.as_dict()
    warnings: tuple[str, ...] = ()

    def segment(self, interface: str, family: str, vrid: int) -> SegmentView | None:
        for view in self.segments:
            if view.key == (interface, family, vrid):
                return view
        return None
