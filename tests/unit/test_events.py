"""lvsmon.events: each state change logged once, fed hand-built DaemonState sequences through
a real StateStore, as the daemon publishes them."""

from __future__ import annotations

import logging

import pytest

from lvsmon.events import StateChangeLogger
from lvsmon.logs import NOTICE
from lvsmon.model import IpvsTable
from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.vrrp import (
    Anomaly,
    InstanceSnapshot,
    ObserverSnapshot,
    ParticipantSnapshot,
    RouterSeen,
    SegmentView,
    StateEvent,
)
from lvsmon.state import StateStore

A, B, C = "10.0.0.11", "10.0.0.12", "10.0.0.13"


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    store = StateStore(DaemonState(DaemonInfo("1", 1, clock.now, clock.now)), clock=clock)
    events = StateChangeLogger()
    store.subscribe(events.changed)
    store.events = events
    return store


@pytest.fixture
def logged(caplog):
    """The lines logged since the last call, as (level, message)."""
    caplog.set_level(logging.DEBUG, logger="lvsmon.events")

    def take():
        lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "lvsmon.events"]
        caplog.clear()
        return lines

    return take


def router(address: str, priority: int, advertising: bool = True) -> RouterSeen:
    return RouterSeen(address, 3, priority, 100, None, ("10.0.0.100",), "v3", 255, 10, 0.0, 1.0,
                      advertising)  # fmt: skip


def view(master: str | None, routers=(), anomalies=(), changes: int = 0, vrid: int = 51,
         interface: str = "eth0") -> SegmentView:  # fmt: skip
    return SegmentView(interface, "inet", vrid, master, None, changes, tuple(routers),
                       tuple(anomalies), (), 0.0)  # fmt: skip


def observer(*views: SegmentView) -> ObserverSnapshot:
    return ObserverSnapshot(0.0, ("eth0",), views)


def publish_vrrp(store, *views):
    source = store.current.vrrp
    store.publish(vrrp=source.succeeded(observer(*views), store.clock()))


def test_master_changes(store, logged):
    store.publish(vrrp=SourceState(enabled=True))
    publish_vrrp(store, view(None, [router(A, 150, advertising=False)]))
    assert logged() == []  # a segment heard, no master yet
    publish_vrrp(store, view(A, [router(A, 150)], changes=1))
    assert logged() == [(NOTICE, f"VRRP eth0 inet VRID 51: master none -> {A} (priority 150)")]
    publish_vrrp(store, view(A, [router(A, 150)], changes=1))  # new objects, same content
    publish_vrrp(store, view(A, [router(A, 150)], changes=1))
    assert logged() == []
    publish_vrrp(store, view(B, [router(A, 150, False), router(B, 100)], changes=2))
    assert logged() == [(NOTICE, f"VRRP eth0 inet VRID 51: master {A} -> {B} (priority 100)")]
    publish_vrrp(store, view(None, [router(A, 150, False), router(B, 100, False)], changes=2))
    assert logged() == [(logging.WARNING, f"VRRP eth0 inet VRID 51: master {B} -> none")]
    publish_vrrp(store, view(B, [router(B, 100)], changes=3))
    publish_vrrp(store, view(B, [router(B, 100)], changes=5))  # to A and back between publishes
    assert logged() == [
        (NOTICE, f"VRRP eth0 inet VRID 51: master none -> {B} (priority 100)"),
        (NOTICE, f"VRRP eth0 inet VRID 51: master {B} again after 2 changes (priority 100)"),
    ]
    # A second segment appears; the first one is untouched.
    publish_vrrp(store, view(B, [router(B, 100)], changes=5),
                 view(C, [router(C, 50)], changes=1, vrid=52, interface="eth1"))  # fmt: skip
    assert logged() == [(NOTICE, f"VRRP eth1 inet VRID 52: master none -> {C} (priority 50)")]


def test_anomalies_start_and_end_once(store, logged):
    store.publish(vrrp=SourceState(enabled=True))
    split = Anomaly("split_brain", 10.0, None, (A, B), "2 routers advertise as master")
    publish_vrrp(store, view(A, [router(A, 150), router(B, 100)], [split], changes=1))
    assert logged() == [
        (NOTICE, f"VRRP eth0 inet VRID 51: master none -> {A} (priority 150)"),
        (logging.WARNING, f"VRRP eth0 inet VRID 51: anomaly split_brain started: routers {A}, "
                          f"{B}: 2 routers advertise as master"),
    ]  # fmt: skip
    publish_vrrp(store, view(A, [router(A, 150), router(B, 100)], [split], changes=1))
    assert logged() == []
    ended = Anomaly("split_brain", 10.0, 22.5, (A, B), "2 routers advertise as master")
    publish_vrrp(store, view(A, [router(A, 150)], [ended], changes=1))
    assert logged() == [
        (NOTICE, f"VRRP eth0 inet VRID 51: anomaly split_brain ended after 12.5 s: routers {A}, "
                 f"{B}: 2 routers advertise as master"),
    ]  # fmt: skip
    publish_vrrp(store, view(A, [router(A, 150)], [ended], changes=1))
    assert logged() == []
    # Began and ended between two publishes: both are said. One active, dropped from the
    # history (the history keeps only so many): said to have ended.
    brief = Anomaly("bad_ttl", 30.0, 30.4, (C,), "TTL 64, not 255")
    release = Anomaly("graceful_release", 31.0, None, (A,), f"{A} gave up mastership")
    publish_vrrp(store, view(A, [router(A, 150)], [ended, brief, release], changes=1))
    assert logged() == [
        (logging.WARNING, f"VRRP eth0 inet VRID 51: anomaly bad_ttl started: routers {C}: "
                          "TTL 64, not 255"),
        (NOTICE, f"VRRP eth0 inet VRID 51: anomaly bad_ttl ended after 0.4 s: routers {C}: "
                 "TTL 64, not 255"),
        (logging.WARNING, f"VRRP eth0 inet VRID 51: anomaly graceful_release started: routers "
                          f"{A}: {A} gave up mastership"),
    ]  # fmt: skip
    publish_vrrp(store, view(A, [router(A, 150)], [], changes=1))
    assert logged() == [
        (NOTICE, f"VRRP eth0 inet VRID 51: anomaly graceful_release ended: routers {A}: "
                 f"{A} gave up mastership"),
    ]  # fmt: skip


def instance(state: str, events: list[StateEvent], transitions: int | None = None,
             name: str = "web71") -> InstanceSnapshot:  # fmt: skip
    return InstanceSnapshot(
        name=name, interface="eth0", family="inet", vrid=71, version=3, state=state,
        priority=100, base_priority=100, source="10.0.0.30", master=None, since=None,
        events=tuple(events), tracks=(),
        transitions=len(events) if transitions is None else transitions,
    )  # fmt: skip


def publish_participant(store, *instances):
    source = store.current.participant
    snapshot = ParticipantSnapshot(store.clock(), instances)
    store.publish(participant=source.succeeded(snapshot, store.clock()))


def test_participant_transitions_each_once(store, logged):
    store.publish(participant=SourceState(enabled=True))
    publish_participant(store, instance("INITIALIZE", []))
    assert logged() == []
    first = StateEvent(1.0, "INITIALIZE", "BACKUP", "startup", 100)
    publish_participant(store, instance("BACKUP", [first]))
    publish_participant(store, instance("BACKUP", [first]))
    assert logged() == [
        (NOTICE, "VRRP instance web71 (eth0 inet VRID 71): INITIALIZE -> BACKUP (startup), "
                 "priority 100"),
    ]  # fmt: skip
    # Two transitions between publishes; the events list keeps only the last two of three.
    up = StateEvent(2.0, "BACKUP", "MASTER", "master down interval expired", 100)
    fault = StateEvent(3.0, "MASTER", "FAULT", "track nginx failed", 100)
    publish_participant(store, instance("FAULT", [up, fault], transitions=3))
    assert logged() == [
        (NOTICE, "VRRP instance web71 (eth0 inet VRID 71): BACKUP -> MASTER (master down interval "
                 "expired), priority 100"),
        (logging.WARNING, "VRRP instance web71 (eth0 inet VRID 71): MASTER -> FAULT (track "
                          "nginx failed), priority 100"),
    ]  # fmt: skip
    # The participant restarted (counting from 0 again).
    again = StateEvent(4.0, "INITIALIZE", "BACKUP", "startup", 100)
    publish_participant(store, instance("BACKUP", [again]))
    assert logged() == [
        (NOTICE, "VRRP instance web71 (eth0 inet VRID 71): INITIALIZE -> BACKUP (startup), "
                 "priority 100"),
    ]  # fmt: skip


def test_sources_down_and_back(store, clock, logged):
    store.publish(ipvs=SourceState(enabled=True))
    reason = "no IPVS in this kernel: load the ip_vs module"
    store.publish(ipvs=store.current.ipvs.failed(reason, clock()))
    clock.now += 5
    store.publish(ipvs=store.current.ipvs.failed(reason, clock()))  # retried, same reason
    assert logged() == [(logging.WARNING, f"IPVS down: {reason}")]
    store.publish(ipvs=store.current.ipvs.failed("permission denied", clock()))
    assert logged() == [(logging.WARNING, "IPVS still down, now: permission denied")]
    clock.now += 7.25
    table = IpvsTable(source="netlink", read_at_seconds=clock.now)
    store.publish(ipvs=store.current.ipvs.succeeded(table, clock()))
    store.publish(ipvs=store.current.ipvs.succeeded(table, clock()))
    assert logged() == [(NOTICE, "IPVS back after 7.2 s")]
    store.publish(vrrp=SourceState(enabled=True).failed("no interface to observe", clock()))
    clock.now += 3725
    store.publish(vrrp=store.current.vrrp.succeeded(observer(), clock()))
    assert logged() == [
        (logging.WARNING, "VRRP observer down: no interface to observe"),
        (NOTICE, "VRRP observer back after 1h 2m 5s"),
    ]


def test_a_publish_of_one_source_leaves_the_others_alone(store, logged):
    """Runs on every publish: an unchanged source (same object) is not looked into."""
    store.publish(vrrp=SourceState(enabled=True), participant=SourceState(enabled=True))
    publish_vrrp(store, view(A, [router(A, 150)], changes=1))
    publish_participant(store, instance("BACKUP", [StateEvent(1.0, "INITIALIZE", "BACKUP",
                                                              "startup", 100)]))  # fmt: skip
    logged()
    looked = []
    events = store.events
    events._observer = lambda snapshot: looked.append("observer")
    events._participant = lambda snapshot: looked.append("participant")
    for _ in range(3):
        store.publish(ipvs=SourceState(enabled=True))
    assert looked == [] and logged() == []
    source = store.current.vrrp
    store.publish(vrrp=source.succeeded(source.snapshot, 2000.0))  # same snapshot object
    assert looked == []
    publish_vrrp(store, view(A, [router(A, 150)], changes=1))
    assert looked == ["observer"]


def test_a_source_switched_off_forgets_its_segments(store, logged):
    store.publish(vrrp=SourceState(enabled=True))
    publish_vrrp(store, view(A, [router(A, 150)], changes=1))
    store.publish(vrrp=SourceState(enabled=False))
    store.publish(vrrp=SourceState(enabled=True))
    publish_vrrp(store, view(A, [router(A, 150)], changes=1))
    assert logged() == [(NOTICE, f"VRRP eth0 inet VRID 51: master none -> {A} (priority 150)")] * 2
