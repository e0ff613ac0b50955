"""VRRP as lvsmon sees it: adverts heard, the observer's segment views, the participant.

Words follow RFC 3768 (VRRPv2), RFC 5798 (VRRPv3) and keepalived. One ``SegmentView``
per (interface, family, VRID); times are seconds on the clock the observer was fed with
(``time.time()`` in the daemon and CLI). Snapshots are deeply immutable: tuples and
FrozenDicts, never lists or dicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from lvsmon.model.frozen import EMPTY, FrozenDict


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP advertisement as heard on the wire (decoded by lvsmon.vrrp.codec).

    Words follow RFC 3768 (VRRPv2) and RFC 5798 (VRRPv3). Adverts that break
    a MUST of the RFC but can still be read (TTL not 255, bad checksum) are
    kept, with the anomaly visible in ``ttl_ok`` / ``checksum_ok``: an observer
    reports them instead of silently dropping them as a router would.
    """

    version: int  # 2 (RFC 3768) or 3 (RFC 5798)
    vrid: int
    priority: int  # 0: the master is releasing; 255: the address owner
    addresses: tuple[str, ...]  # the virtual addresses, in packet order
    family: str  # "inet" / "inet6"
    # v2 sends whole seconds, v3 centiseconds (12 bits); both stored exactly here.
    advert_interval_centiseconds: int
    source: str  # IP source: the sending router's primary address
    destination: str  # 224.0.0.18 / ff02::12, or a unicast peer
    ttl: int  # IPv4 TTL or IPv6 hop limit; the RFCs require 255
    checksum: int  # as received
    # Which computation the checksum matched (see lvsmon.vrrp.codec.CHECKSUM_FORMS);
    # None: it matched none of them.
    checksum_form: str | None
    auth_type: str | None = None  # v2 only: "none", "simple", "ah", or "unknown-<n>"
    auth_data: bytes = b""  # v2 only: the 8 bytes as received

    @property
    def advert_interval_seconds(self) -> float:
        return self.advert_interval_centiseconds / 100

    @property
    def ttl_ok(self) -> bool:
        return self.ttl == 255

    @property
    def checksum_ok(self) -> bool:
        return self.checksum_form is not None

    @property
    def password(self) -> str | None:
        """The v2 simple-text password (auth type 1), without its zero padding."""
        if self.auth_type != "simple":
            return None
        return self.auth_data.rstrip(b"\0").decode("latin-1")

    @property
    def anomalies(self) -> tuple[str, ...]:
        """What is wrong with this advert though it could be read."""
        found = []
        if not self.ttl_ok:
            found.append("bad_ttl")
        if not self.checksum_ok:
            found.append("bad_checksum")
        return tuple(found)

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
# Configured versus heard: what this node's keepalived.conf says (a VrrpExpectation) and a
# router's adverts differ. The priority is judged for this node's own router only: a peer's
# priority is in the peer's file.
CONFIG_PRIORITY = "config_priority"  # not the configured priority (nor one track weights make)
CONFIG_VIPS = "config_vips"
CONFIG_INTERVAL = "config_interval"
CONFIG_VERSION = "config_version"
CONFIG_ANOMALIES = (CONFIG_PRIORITY, CONFIG_VIPS, CONFIG_INTERVAL, CONFIG_VERSION)

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
    *CONFIG_ANOMALIES,
)

# The state of this node's own keepalived instance, as the wire shows it (SegmentView.own_state):
#   master  this node's router advertises (a non-zero priority within its Master_Down_Interval);
#   fault   its last advert was priority 0 and no other router has advertised since (it gave up
#           mastership and nobody took over), or nobody has advertised for longer than this
#           node's configured Master_Down_Interval (plus the no_master grace);
#   backup  otherwise, once a router was heard: another router advertises while this node does
#           not, or the last master went silent less than that long ago (this node waits to
#           take over).
# None: nothing heard yet, and not yet that long. A stopped keepalived whose peer took over
# looks like a backup: a backup is silent in VRRP.
OWN_MASTER, OWN_BACKUP, OWN_FAULT = "master", "backup", "fault"
OWN_STATES = (OWN_MASTER, OWN_BACKUP, OWN_FAULT)

# More track weights than this are judged as a range of priorities, not each sum.
_TRACK_SUBSETS_LIMIT = 10


def master_down_interval(advert_interval_seconds: float, priority: int) -> float:
    """RFC 5798 section 6.1: 3 x Master_Adver_Interval + Skew_Time."""
    return 3 * advert_interval_seconds + skew_time(advert_interval_seconds, priority)


def skew_time(advert_interval_seconds: float, priority: int) -> float:
    """RFC 5798 section 6.1: ((256 - priority) x Master_Adver_Interval) / 256."""
    return (256 - priority) * advert_interval_seconds / 256


@dataclass(frozen=True, slots=True)
class VrrpExpectation:
    """What this node's keepalived.conf configures for one VRID, handed to the observer.

    The observer knows no files: the daemon derives these from the configuration
    (lvsmon.keepalived.expect) and the observer compares the wire with them.
    """

    instance: str  # the vrrp_instance name
    interface: str | None  # None: any interface (a unicast instance without one)
    family: str  # "inet" / "inet6"
    vrid: int
    priority: int
    advert_interval_centiseconds: int
    version: int
    vips: tuple[str, ...]  # the addresses, as adverts carry them
    track_weights: tuple[int, ...] = ()  # vrrp_script weights that move the advertised priority
    own_addresses: tuple[str, ...] = ()  # this node's: its adverts come from one of them

    _json_extras = {"advert_interval": "advert_interval_seconds"}

    @property
    def advert_interval_seconds(self) -> float:
        return self.advert_interval_centiseconds / 100

    def allows_priority(self, priority: int) -> bool:
        """Whether this node may advertise `priority`: the configured one, moved by any set of
        its track weights (each script adds its weight while it counts), within 1..254 as
        keepalived keeps it; an address owner (255) is never moved."""
        if self.priority == 255 or not self.track_weights:
            return priority == self.priority
        weights = [w for w in self.track_weights if w]
        if len(weights) > _TRACK_SUBSETS_LIMIT:
            low = self.priority + sum(w for w in weights if w < 0)
            high = self.priority + sum(w for w in weights if w > 0)
            return _clamp(low) <= priority <= _clamp(high)
        sums = {0}
        for weight in weights:
            sums |= {total + weight for total in sums}
        return priority in {_clamp(self.priority + total) for total in sums}


def _clamp(priority: int) -> int:
    return min(max(priority, 1), 254)


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
    # The keepalived instance, when this router is this node (one of its own addresses).
    keepalived_instance: str | None = None

    _json_extras = {"advert_interval": "advert_interval_seconds"}

    @property
    def advert_interval_seconds(self) -> float:
        return self.advert_interval_centiseconds / 100

    @property
    def this_node(self) -> bool:
        return self.keepalived_instance is not None


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


@dataclass(frozen=True, slots=True)
class SegmentEvent:
    """One line of a segment's log: a router appeared, the master changed, an anomaly began."""

    at: float
    kind: str  # "router_heard", "master", "release", "anomaly_start", "anomaly_end"
    detail: str


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
    anomaly_history: tuple[Anomaly, ...]  # active ones and those that ended, oldest first
    events: tuple[SegmentEvent, ...]  # the most recent ones, oldest first
    taken_at: float
    # What this node's keepalived.conf configures for the VRID, and its own instance's state
    # (one of OWN_STATES; None: not known yet). None / None where nothing is configured.
    configured: VrrpExpectation | None = None
    own_state: str | None = None

    _json_extras = {"anomalies": "anomaly_names", "keepalived_instance": "keepalived_instance"}

    @property
    def keepalived_instance(self) -> str | None:
        """The vrrp_instance of this node's keepalived.conf the VRID belongs to."""
        return None if self.configured is None else self.configured.instance

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.interface, self.family, self.vrid)

    @property
    def active_anomalies(self) -> tuple[Anomaly, ...]:
        return tuple(anomaly for anomaly in self.anomaly_history if anomaly.active)

    @property
    def anomaly_names(self) -> tuple[str, ...]:
        """Names of the anomalies active now, each once, in ANOMALY_NAMES order."""
        active = {anomaly.name for anomaly in self.anomaly_history if anomaly.active}
        return tuple(name for name in ANOMALY_NAMES if name in active)

    @property
    def masters(self) -> tuple[RouterSeen, ...]:
        """The routers advertising now: one is healthy, none no master, more split brain."""
        return tuple(router for router in self.routers if router.advertising)

    def router(self, address: str) -> RouterSeen | None:
        for router in self.routers:
            if router.address == address:
                return router
        return None


@dataclass(frozen=True, slots=True)
class DecodeCounts:
    """What one interface's sockets decoded and rejected since the observer started."""

    decoded: int = 0
    rejected: FrozenDict[str, int] = EMPTY  # reason -> packets; every known reason listed
    anomalies: FrozenDict[str, int] = EMPTY  # bad_ttl / bad_checksum -> adverts

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(frozen=True, slots=True)
class ObserverSnapshot:
    """All segments an observer knows, plus what its sockets rejected, per interface."""

    taken_at: float
    interfaces: tuple[str, ...]
    segments: tuple[SegmentView, ...]
    decode_counts: FrozenDict[str, DecodeCounts] = EMPTY  # interface -> counts
    warnings: tuple[str, ...] = ()

    def segment(self, interface: str, family: str, vrid: int) -> SegmentView | None:
        for view in self.segments:
            if view.key == (interface, family, vrid):
                return view
        return None


# -- the participant (lvsmon.vrrp.participant) -------------------------------------------

# RFC 5798 state names, as the participant's state machine spells them.
INITIALIZE, BACKUP, MASTER, FAULT = "INITIALIZE", "BACKUP", "MASTER", "FAULT"
STATES = (INITIALIZE, BACKUP, MASTER, FAULT)


# Why an instance became master, in RFC 6527's words (vrrpv3StatisticsNewMasterReason):
# the address owner starts as master; a backup takes over when the master fell silent,
# or when it preempts a master of lower priority.
MASTER_REASONS = ("priority", "preempted", "master_no_response")


@dataclass(frozen=True, slots=True)
class StateEvent:
    time: float  # wall clock
    old: str
    new: str
    reason: str
    priority: int
    master_reason: str | None = None  # one of MASTER_REASONS when new is MASTER


@dataclass(frozen=True, slots=True)
class TrackStatus:
    name: str
    ok: bool | None  # None: no result yet
    detail: str


@dataclass(frozen=True, slots=True)
class InstanceSnapshot:
    name: str
    interface: str
    family: str
    vrid: int
    version: int
    state: str  # one of STATES
    priority: int  # effective
    base_priority: int  # configured
    source: str | None  # our advert source address
    master: str | None  # the master as last heard (our source when we are master)
    since: float | None  # wall time of the last state change
    events: tuple[StateEvent, ...]
    tracks: tuple[TrackStatus, ...]
    dropped: FrozenDict[str, int] = EMPTY  # adverts not accepted: reason -> count
    vips: tuple[str, ...] = ()  # with prefix length, as configured
    advert_interval_centiseconds: int = 100
    preempt: bool = True
    transitions: int = 0  # state changes since start (events keeps only the latest)
    adverts_sent: int = 0
    adverts_received: int = 0  # accepted for this instance
    # Configuration the standard MIBs show (keepalived's words where it has them).
    preempt_delay_seconds: float = 0.0
    auth_type: str = "none"  # VRRPv2: "none" or "simple" (a password); VRRPv3: "none"
    unicast_peers: tuple[str, ...] = ()  # empty: multicast (224.0.0.18 / ff02::12)
    vmac_interface: str | None = None  # the macvlan holding the VIPs (vmac = true)
    notify: tuple[str, ...] = ()  # the notify hook's argv, empty when none
    # Counters since the instance started (RFC 6527's vrrpv3StatisticsTable).
    master_transitions: int = 0  # times it became master
    new_master_reason: str | None = None  # MASTER_REASONS of the last time; None: never
    priority_zero_sent: int = 0  # adverts with priority 0 (releasing mastership)
    priority_zero_received: int = 0  # accepted adverts of priority 0
    # The last advert refused as a protocol error: "bad_ttl", "version_mismatch" or
    # "bad_checksum" (RFC 6527's ipTtlError, versionError, checksumError); None: none yet.
    last_protocol_error: str | None = None


@dataclass(frozen=True, slots=True)
class ParticipantSnapshot:
    taken_at: float
    instances: tuple[InstanceSnapshot, ...]
