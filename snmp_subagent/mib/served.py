"""A DaemonState with every source filled in, and what the mapping serves from it.

`python -m lvsmon_snmp.mib.check --served` checks these rows and notification varbinds
against the MIBs: every column the mapping can produce appears here at least once (an
IPv4 and an IPv6 instance, v2 and v3, master and backup, netlink counters, a split
brain, a SNAT recorder with a store). Unit tests build on the same state.
"""

from __future__ import annotations

import dataclasses

from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.ipvs import Counters, IpvsTable, RealServer, ServiceKey, VirtualService
from lvsmon.model.snat import RecorderStatus, SnatStatus, StoreSummary
from lvsmon.model.vrrp import (
    Anomaly,
    InstanceSnapshot,
    ObserverSnapshot,
    ParticipantSnapshot,
    RouterSeen,
    SegmentView,
    StateEvent,
)
from lvsmon_snmp.mib import lvsmon_mib, mapping, notifications
from lvsmon_snmp.mib.encode import Oid

T0 = 1_790_000_000.0  # 2026-09-21, a fixed clock for every sample time
INTERFACES = {"eth0": 2, "eth1": 3, "vrrp.51": 4}


def if_index(name: str) -> int | None:
    return INTERFACES.get(name)


def _instance(**changes) -> InstanceSnapshot:
    base = InstanceSnapshot(
        name="web", interface="eth0", family="inet", vrid=51, version=3, state="MASTER",
        priority=150, base_priority=150, source="10.0.0.11", master="10.0.0.11",
        since=T0 + 4,
        events=(StateEvent(T0 + 1, "INITIALIZE", "BACKUP", "startup", 150),
                StateEvent(T0 + 4, "BACKUP", "MASTER", "preempting the lower-priority master "
                           "10.0.0.13", 150, "preempted")),
        tracks=(), dropped=FrozenDict({"bad_ttl": 2, "bad_checksum": 1, "version_mismatch": 3,
                                       "interval_mismatch": 0, "bad_type": 4, "truncated": 1,
                                       "bad_length": 2}),
        vips=("10.0.0.100/24", "10.0.0.101/24"), advert_interval_centiseconds=100,
        preempt=True, transitions=2, adverts_sent=40, adverts_received=7,
        preempt_delay_seconds=5.5, vmac_interface="vrrp.51",
        notify=("/usr/local/bin/vrrp-notify", "--from lvsmon"), master_transitions=1,
        new_master_reason="preempted", priority_zero_sent=1, priority_zero_received=2,
        last_protocol_error="bad_checksum",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


def participant() -> ParticipantSnapshot:
    return ParticipantSnapshot(T0 + 10, (
        _instance(),
        _instance(name="legacy", vrid=52, version=2, state="BACKUP", master="10.0.0.12",
                  priority=100, base_priority=100, vips=("10.0.0.102/24",),
                  events=(StateEvent(T0 + 1, "INITIALIZE", "BACKUP", "startup", 100),),
                  transitions=1, auth_type="simple", unicast_peers=("10.0.0.12",),
                  preempt_delay_seconds=0.0, vmac_interface=None, notify=(),
                  master_transitions=0, new_master_reason=None, priority_zero_sent=0,
                  priority_zero_received=0, last_protocol_error=None),
        _instance(name="v6", interface="eth1", family="inet6", vrid=53, priority=255,
                  base_priority=255, source="fe80::11", master="fe80::11",
                  vips=("fd00::100/64",), preempt=False,
                  events=(StateEvent(T0 + 1, "INITIALIZE", "MASTER",
                                     "address owner (priority 255)", 255, "priority"),),
                  transitions=1, preempt_delay_seconds=0.0, vmac_interface=None, notify=(),
                  new_master_reason="priority", priority_zero_sent=0,
                  priority_zero_received=0, last_protocol_error=None),
    ))  # fmt: skip


def observer() -> ObserverSnapshot:
    routers = (
        RouterSeen("10.0.0.11", 3, 150, 100, None, ("10.0.0.100", "10.0.0.101"), "rfc5798",
                   255, 90, T0, T0 + 9, True),
        RouterSeen("10.0.0.13", 2, 120, 100, "simple", ("10.0.0.100",), "rfc3768", 255, 12,
                   T0 + 2, T0 + 9.5, True),
    )  # fmt: skip
    split = Anomaly("split_brain", T0 + 5, None, ("10.0.0.11", "10.0.0.13"),
                    "2 routers advertising")
    ended = Anomaly("no_master", T0 + 1, T0 + 2, (), "silent for 3.6 s")
    view = SegmentView("eth0", "inet", 51, "10.0.0.11", T0 + 4, 3, routers, (ended, split),
                       (), T0 + 10)
    gone = dataclasses.replace(view, interface="gone0")  # no ifIndex: left out
    return ObserverSnapshot(T0 + 10, ("eth0",), (view, gone))


def ipvs() -> IpvsTable:
    stats = Counters(2**33 + 5, 2**32 + 7, 9, 2**40, 3)
    rates = Counters(4, 2**32 + 1, 6, 7, 8)
    web = VirtualService(
        ServiceKey("tcp", "inet", "10.0.0.100", 80), "wrr",
        flags=("persistent", "hashed", "sh-fallback"), persistence_timeout_seconds=300,
        persistence_prefix_length=24, stats=stats, rates=rates,
        real_servers=(
            RealServer("10.0.1.3", 80, "route", 0, 1, 2, 0, 0, 0, stats, rates),
            RealServer("10.0.1.2", 80, "masq", 3, 4, 5, 10, 2, 1, stats, rates),
        ))  # fmt: skip
    six = VirtualService(ServiceKey("udp", "inet6", "fd00::100", 53), "rr",
                         flags=("persistent", "hashed", "onepacket"),
                         persistence_timeout_seconds=60, persistence_prefix_length=64,
                         real_servers=(RealServer("fd00::2", 53, "tunnel", 1, 0, 0),))
    mark = VirtualService(ServiceKey("fwm", "inet", fwmark=7), "mh",
                          flags=("hashed", "flag-3"),
                          real_servers=(RealServer("10.0.1.9", 0, "local", 1, 0, 0),))
    return IpvsTable("netlink", T0 + 10, (mark, six, web), "1.2.1", 4096, stats, rates)


def snat() -> SnatStatus:
    recorder = RecorderStatus(
        pid=99, node="lb1", started_ns=int(T0 * 1e9), updated_ns=int((T0 + 9) * 1e9),
        stopped=False, events_per_second=12.4, receive_buffer_bytes=None,
        reliable_delivery=True, accounting=FrozenDict(), last_dump_ns=None, dumping=False,
        store="/var/lib/lvsmon/snat.db", events=1000, snat_events=600, other_events=400,
        dumps=1, overflows=2, events_dropped=5, end_unknown=3, store_dropped=1,
        decode_errors=4)  # fmt: skip
    return SnatStatus("/run/lvsmon/snat.json", int((T0 + 10) * 1e9), 5.0, True, recorder,
                      store_path="/var/lib/lvsmon/snat.db",
                      store=StoreSummary(500, 20, None, None))


def state() -> DaemonState:
    ok = {"enabled": True, "last_success": T0 + 9, "attempts": 10, "failures": 1}
    return DaemonState(
        daemon=DaemonInfo("0.1.0", 1234, T0, T0 + 10),
        vrrp=SourceState(snapshot=observer(), **ok),
        participant=SourceState(snapshot=participant(), **ok),
        ipvs=SourceState(snapshot=ipvs(), **ok),
        snat=SourceState(snapshot=snat(), **ok),
    )  # fmt: skip


def later_state() -> DaemonState:
    """`state()` a moment later: things changed that each notification reports."""
    now = state()
    instances = now.participant.snapshot.instances
    legacy = dataclasses.replace(
        instances[1], state="MASTER", transitions=2, master_transitions=1,
        new_master_reason="master_no_response",
        events=(*instances[1].events,
                StateEvent(T0 + 12, "BACKUP", "MASTER", "master down interval expired", 100,
                           "master_no_response")),
        dropped=FrozenDict({"bad_ttl": 1}))  # fmt: skip
    participant_now = ParticipantSnapshot(T0 + 12, (instances[0], legacy, instances[2]))
    table = now.ipvs.snapshot
    web = table.services[2]
    web = dataclasses.replace(web, real_servers=(
        dataclasses.replace(web.real_servers[0], weight=2), web.real_servers[1]))
    ipvs_now = dataclasses.replace(table, services=(table.services[0], web))  # six removed
    segment = now.vrrp.snapshot.segments[0]
    split = segment.anomaly_history[1]
    ended = dataclasses.replace(split, end=T0 + 11)
    no_master = Anomaly("no_master", T0 + 11.5, None, ("10.0.0.11",), "silent")
    segment = dataclasses.replace(segment, anomaly_history=(segment.anomaly_history[0], ended,
                                                            no_master))
    observer_now = dataclasses.replace(now.vrrp.snapshot, segments=(segment,))
    return dataclasses.replace(
        now,
        participant=dataclasses.replace(now.participant, snapshot=participant_now),
        ipvs=dataclasses.replace(now.ipvs, snapshot=ipvs_now),
        vrrp=dataclasses.replace(now.vrrp, snapshot=observer_now),
        snat=now.snat.failed("status file missing", T0 + 12),
    )


def sample_served(base: str | Oid | None = None) -> list[tuple[Oid, str]]:
    """(oid, kind) of every row the mapping serves from the sample state."""
    return [(oid, kind) for oid, kind, _ in
            mapping.rows(state(), if_index=if_index, router_id="lb1", base=_base(base))]


def sample_varbinds(base: str | Oid | None = None) -> list[tuple[Oid, str]]:
    """(oid, kind) of every varbind of the notifications between the two sample states
    (snmpTrapOID.0 left out: it is SNMPv2-MIB's)."""
    found = []
    for old, new in ((state(), later_state()), (later_state(), state())):
        for note in notifications.notifications(old, new, if_index=if_index, router_id="lb1",
                                                base=_base(base)):
            found += [(oid, kind) for oid, kind, _ in note.varbinds]
    return found


def _base(base: str | Oid | None) -> Oid:
    if base is None:
        return lvsmon_mib.DEFAULT_BASE
    if isinstance(base, str):
        return tuple(int(part) for part in base.strip(".").split("."))
    return tuple(base)
