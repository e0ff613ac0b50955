"""DaemonState -> LVSMON-MIB objects (mibs/LVSMON-MIB.txt), under a configurable base OID.

    rows = list(lvsmon_mib.rows(state, if_index, base=settings.base))

`base` is the [agentx] base_oid (lvsmonMIB); DEFAULT_BASE is what the MIB text shows.
Segments are indexed (ifIndex, VRID, InetAddressType) like VRRPV3-MIB, so a manager can
join the two; a segment whose interface the caller's `if_index` cannot name is left out.
Times are DateAndTime in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lvsmon.model.daemon import DaemonState, SourceState
from lvsmon.model.snat import SnatStatus
from lvsmon.model.vrrp import ANOMALY_NAMES, Anomaly, RouterSeen, SegmentView
from lvsmon_snmp.mib.encode import (
    IfIndex,
    Oid,
    Row,
    date_and_time,
    gauge32,
    inet_type,
    octets,
    string_index,
    text,
    truth,
)

DEFAULT_BASE = (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5866)  # netSnmpPlaypen.5866

# lvsmonSourceIndex: (row, DaemonState field)
SOURCES = ((1, "vrrp"), (2, "participant"), (3, "ipvs"), (4, "snat"))
# LvsmonAnomalyType: the model's anomaly names, numbered from 1 in ANOMALY_NAMES order
ANOMALY_TYPES = {name: number for number, name in enumerate(ANOMALY_NAMES, 1)}
AUTH_TYPES = {"none": 0, "simple": 1, "ah": 2}  # others: other(3)

# Notification numbers under lvsmonNotifications (base.0)
SPLIT_BRAIN, SPLIT_BRAIN_END, NO_MASTER, NO_MASTER_END, SOURCE_DOWN, SOURCE_UP = range(1, 7)


class Layout:
    """The OIDs of LVSMON-MIB under one base."""

    def __init__(self, base: Oid = DEFAULT_BASE):
        self.base = tuple(base)
        objects = self.base + (1,)
        self.daemon = objects + (1,)
        self.source_entry = objects + (2, 1, 1)
        self.segment_entry = objects + (3, 1, 1)
        self.router_entry = objects + (3, 2, 1)
        self.anomaly_entry = objects + (3, 3, 1)
        self.snat = objects + (4,)
        self.notify = objects + (5,)

    def notification(self, number: int) -> Oid:
        return self.base + (0, number)


def anomaly_bits(names: Iterable[str]) -> bytes:
    """LvsmonAnomalySet: BITS, bit 0 the most significant bit of the first octet."""
    data = bytearray((len(ANOMALY_NAMES) + 7) // 8)
    for name in names:
        bit = ANOMALY_TYPES[name] - 1
        data[bit // 8] |= 0x80 >> (bit % 8)
    return bytes(data)


def segment_index(view: SegmentView, if_index: IfIndex) -> Oid | None:
    ifindex = if_index(view.interface)
    if ifindex is None:
        return None
    return (ifindex, view.vrid, inet_type(view.family))


def active_anomalies(view: SegmentView) -> tuple[Anomaly, ...]:
    """In lvsmonAnomalyIndex order: oldest first, then by type."""
    return tuple(sorted(view.active_anomalies,
                        key=lambda a: (a.start, ANOMALY_TYPES.get(a.name, 99))))  # fmt: skip


def rows(state: DaemonState, if_index: IfIndex, base: Oid = DEFAULT_BASE) -> Iterator[Row]:
    """Every LVSMON-MIB object lvsmon serves for this state."""
    layout = Layout(base)
    yield from status_rows(state, layout)
    yield from segments_rows(state, if_index, layout)
    yield from snat_source_rows(state, layout)


def status_rows(state: DaemonState, layout: Layout) -> Iterator[Row]:
    """The daemon's scalars and the source table."""
    yield from daemon_rows(state, layout)
    yield from source_rows(state, layout)


def segments_rows(state: DaemonState, if_index: IfIndex, layout: Layout) -> Iterator[Row]:
    """The observer's segments, routers and active anomalies (none unless it is available)."""
    if not state.vrrp.available:
        return
    for view in state.vrrp.snapshot.segments:
        index = segment_index(view, if_index)
        if index is not None:
            yield from segment_rows(view, index, layout)


def snat_source_rows(state: DaemonState, layout: Layout) -> Iterator[Row]:
    """The SNAT recorder's scalars, while its status is available."""
    if state.snat.available:
        yield from snat_rows(state.snat.snapshot, layout)


def daemon_rows(state: DaemonState, layout: Layout) -> Iterator[Row]:
    daemon = state.daemon
    yield layout.daemon + (1, 0), "OctetString", text(daemon.version)
    yield layout.daemon + (2, 0), "OctetString", date_and_time(daemon.started_at)
    if daemon.pid > 0:
        yield layout.daemon + (3, 0), "Integer32", daemon.pid


def source_rows(state: DaemonState, layout: Layout) -> Iterator[Row]:
    for row, name in SOURCES:
        source: SourceState = getattr(state, name)

        def column(number: int, kind: str, value: object, row: int = row) -> Row:
            return layout.source_entry + (number, row), kind, value

        yield column(2, "OctetString", text(name))
        yield column(3, "Integer32", truth(source.enabled))
        yield column(4, "Integer32", truth(source.available))
        yield column(5, "OctetString", text(source.error or ""))
        if source.error is not None and source.error_since is not None:
            yield column(6, "OctetString", date_and_time(source.error_since))
        if source.last_success is not None:
            yield column(7, "OctetString", date_and_time(source.last_success))
        yield column(8, "Counter32", source.attempts & 0xFFFFFFFF)
        yield column(9, "Counter32", source.failures & 0xFFFFFFFF)


def segment_rows(view: SegmentView, index: Oid, layout: Layout) -> Iterator[Row]:
    def column(number: int, kind: str, value: object) -> Row:
        return layout.segment_entry + (number, *index), kind, value

    yield column(4, "OctetString", text(view.interface))
    if view.master is not None:
        yield column(5, "OctetString", octets(view.master))
        if view.master_since is not None:
            yield column(6, "OctetString", date_and_time(view.master_since))
    yield column(7, "Counter32", view.master_changes & 0xFFFFFFFF)
    yield column(8, "Gauge32", gauge32(len(view.routers)))
    yield column(9, "Gauge32", gauge32(len(view.masters)))
    active = active_anomalies(view)
    yield column(10, "OctetString", anomaly_bits(a.name for a in active
                                                 if a.name in ANOMALY_TYPES))  # fmt: skip
    yield column(11, "Gauge32", gauge32(len(active)))
    for router in view.routers:
        yield from _router_rows(view, router, index, layout)
    for number, anomaly in enumerate(active, 1):
        yield from _anomaly_rows(anomaly, index + (number,), layout)


def _router_rows(view: SegmentView, router: RouterSeen, segment: Oid,
                 layout: Layout) -> Iterator[Row]:
    index = segment + string_index(octets(router.address))

    def column(number: int, kind: str, value: object) -> Row:
        return layout.router_entry + (number, *index), kind, value

    yield column(2, "Unsigned32", router.priority)
    yield column(3, "Unsigned32", router.advert_interval_centiseconds)
    yield column(4, "Integer32", router.version)
    if router.version == 2 and router.auth_type is not None:
        yield column(5, "Integer32", AUTH_TYPES.get(router.auth_type, 3))
    yield column(6, "OctetString", text(",".join(router.vips)))
    yield column(7, "Counter64", router.adverts)
    yield column(8, "OctetString", date_and_time(router.first_seen))
    yield column(9, "OctetString", date_and_time(router.last_seen))
    yield column(10, "Integer32", truth(router.advertising))
    yield column(11, "Integer32", truth(router.address == view.master))


def _anomaly_rows(anomaly: Anomaly, index: Oid, layout: Layout) -> Iterator[Row]:
    def column(number: int, kind: str, value: object) -> Row:
        return layout.anomaly_entry + (number, *index), kind, value

    if anomaly.name in ANOMALY_TYPES:
        yield column(2, "Integer32", ANOMALY_TYPES[anomaly.name])
    yield column(3, "OctetString", date_and_time(anomaly.start))
    yield column(4, "OctetString", text(",".join(anomaly.routers)))
    yield column(5, "OctetString", text(anomaly.detail))


def snat_rows(status: SnatStatus, layout: Layout) -> Iterator[Row]:
    def scalar(number: int, kind: str, value: object) -> Row:
        return layout.snat + (number, 0), kind, value

    yield scalar(1, "Integer32", truth(status.running))
    yield scalar(2, "OctetString", text(status.not_running_because or ""))
    recorder = status.recorder
    if recorder is not None:
        yield scalar(3, "OctetString", date_and_time(recorder.started_ns / 1e9))
        yield scalar(4, "OctetString", date_and_time(recorder.updated_ns / 1e9))
        yield scalar(5, "Counter64", recorder.events)
        yield scalar(6, "Counter64", recorder.snat_events)
        yield scalar(7, "Counter64", recorder.lost_events)
        yield scalar(8, "Counter64", recorder.overflows)
        yield scalar(9, "Counter64", recorder.end_unknown)
        yield scalar(10, "Counter64", recorder.store_dropped)
        yield scalar(11, "Counter64", recorder.decode_errors)
        yield scalar(14, "Gauge32", gauge32(round(recorder.events_per_second)))
    if status.store is not None:
        yield scalar(12, "Gauge32", gauge32(status.store.records))
        yield scalar(13, "Gauge32", gauge32(status.store.open_records))
