"""The AgentX frontend of `lvsmon run`: the index built from states (per area, off the loop,
coalesced), notifications from successive states, its report in the state, `lvsmon status`
and the exporter's metrics. The session runs against the scripted master of
tests/lab/agentx_fake_master.py on a unix socket in the test's temp dir (no network)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time

from prometheus_client.core import Metric

from lvsmon.cli.daemon_cmd import render_summary
from lvsmon.config import AgentxConfig, Config
from lvsmon.model.daemon import DaemonInfo, DaemonState, FrontendState
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.vrrp import StateEvent
from lvsmon.state import StateStore
from lvsmon_exporter.collector import frontend_families
from lvsmon_snmp import indexer
from lvsmon_snmp.agentx import codec
from lvsmon_snmp.agentx.codec import ErrorCode, SearchRange
from lvsmon_snmp.agentx.index import JoinedIndex
from lvsmon_snmp.agentx.oids import SNMP_TRAP_OID_0
from lvsmon_snmp.agentx.session import Subagent
from lvsmon_snmp.agentx.settings import AgentxSettings
from lvsmon_snmp.agentx.values import END_OF_MIB_VIEW, Value
from lvsmon_snmp.frontend import Agentx
from lvsmon_snmp.indexer import AreaIndexes, IndexWorker, InterfaceIndexes, to_value
from lvsmon_snmp.mib import keepalived_mib, lvsmon_mib, mapping, served, vrrpv3_mib
from lvsmon_snmp.mib.served import T0
from tests.lab.agentx_fake_master import SESSION, FakeMaster, wait_until

BASE = lvsmon_mib.DEFAULT_BASE
SUBTREES = list(mapping.subtrees(BASE).values())
PROBES = [probe for probes in mapping.PROBES.values() for probe in probes]


def indexes(if_index=served.if_index) -> AreaIndexes:
    return AreaIndexes(mapping.areas(BASE), if_index, "lb1", BASE)


def with_participant(daemon_state: DaemonState, **changes) -> DaemonState:
    """`daemon_state` with its first participant instance changed (a new source state)."""
    snapshot = daemon_state.participant.snapshot
    first = dataclasses.replace(snapshot.instances[0], **changes)
    return dataclasses.replace(daemon_state, participant=dataclasses.replace(
        daemon_state.participant, snapshot=dataclasses.replace(
            snapshot, instances=(first, *snapshot.instances[1:]))))


# -- the index -------------------------------------------------------------------------


def test_the_index_serves_exactly_the_mapping():
    state = served.state()
    index = indexes().build(state)
    expected = sorted((oid, to_value(kind, value)) for oid, kind, value in
                      mapping.rows(state, if_index=served.if_index, router_id="lb1", base=BASE))
    assert list(index) == expected
    assert isinstance(index, JoinedIndex)
    # A missing row of a served column is noSuchInstance, an unknown column noSuchObject.
    instance_name = keepalived_mib.VRRP_INSTANCE_ENTRY + (2,)
    assert index.get(instance_name + (9,)).type.name == "NO_SUCH_INSTANCE"
    assert index.get(keepalived_mib.VRRP_INSTANCE_ENTRY + (99, 1)).type.name == "NO_SUCH_OBJECT"


def test_only_the_areas_whose_snapshot_changed_are_rebuilt():
    built = indexes()
    state = served.state()
    first = built.build(state)
    later = with_participant(state, priority=120)
    second = built.build(later)
    assert built.rebuilt["keepalived vrrp"] == 2 and built.rebuilt["vrrpv3"] == 2
    assert built.rebuilt["keepalived check"] == 1 and built.rebuilt["lvsmon segments"] == 1
    ipvs_first = [part for part in first.parts if part.first[:10] == keepalived_mib.KEEPALIVED
                  + (3,)]
    ipvs_second = [part for part in second.parts if part.first[:10] == keepalived_mib.KEEPALIVED
                   + (3,)]
    assert ipvs_first and ipvs_first[0] is ipvs_second[0]  # kept, encoded varbinds and all
    effective = keepalived_mib.VRRP_INSTANCE_ENTRY + (8, 1)
    assert first.get(effective) == Value.integer32(150)
    assert second.get(effective) == Value.integer32(120)
    # The same rows with other values: the last index's order is reused, and what is
    # served is what a first build of that state serves.
    assert built.reused["keepalived vrrp"] == 1 and built.reused["vrrpv3"] == 1
    assert list(second) == list(indexes().build(later))
    fewer = with_participant(later, vips=("10.0.0.100/24",))  # a vrrpAddressTable row less
    assert list(built.build(fewer)) == list(indexes().build(fewer))
    assert built.reused["keepalived vrrp"] == 1


def test_a_value_that_does_not_fit_is_left_out_and_logged_once(caplog):
    built = indexes()
    broken = with_participant(served.state(), base_priority=-5)  # no Unsigned32 (VRRPv3)
    with caplog.at_level(logging.ERROR, "lvsmon.agentx"):
        index = built.build(broken)
        built.build(with_participant(broken, priority=99))
    priority = vrrpv3_mib.OPERATIONS_ENTRY + (7,)
    assert (priority + (2, 51, 1)) not in index and (priority + (2, 52, 1)) in index
    assert (vrrpv3_mib.OPERATIONS_ENTRY + (6, 2, 51, 1)) in index  # the rest is served
    assert index.get(keepalived_mib.VRRP_INSTANCE_ENTRY + (7, 1)) == Value.integer32(-5)
    assert built.bad_rows["vrrpv3"] == 2
    assert len([r for r in caplog.records if "cannot be served" in r.getMessage()]) == 1


def test_a_mapping_that_fails_keeps_the_last_index_of_its_area(caplog):
    built = indexes()
    good = built.build(served.state())
    broken = with_participant(served.state(), vrid=300)  # no virtual MAC for VRID 300
    with caplog.at_level(logging.ERROR, "lvsmon.agentx"):
        index = built.build(broken)
        built.build(with_participant(broken, priority=99))
    assert built.failed["vrrpv3"] == 2
    operations = [oid for oid, _ in index if oid[:len(vrrpv3_mib.VRRPV3)] == vrrpv3_mib.VRRPV3]
    assert operations == [oid for oid, _ in good if oid[:len(vrrpv3_mib.VRRPV3)]
                          == vrrpv3_mib.VRRPV3]  # the last good one
    assert index.get(keepalived_mib.VRRP_INSTANCE_ENTRY + (3, 1)) == Value.gauge32(300)
    assert len([r for r in caplog.records if "cannot be built" in r.getMessage()]) == 1


def test_interface_indexes_are_kept_for_a_while():
    asked, now = [], [0.0]

    def lookup(name):
        asked.append(name)
        if name == "gone":
            raise OSError("no such device")
        return 7

    interfaces = InterfaceIndexes(ttl=30.0, lookup=lookup, clock=lambda: now[0])
    assert interfaces("eth0") == 7 and interfaces("eth0") == 7
    assert interfaces("gone") is None and interfaces("gone") is None  # a miss is not kept
    now[0] = 31.0
    assert interfaces("eth0") == 7
    assert asked == ["eth0", "gone", "gone", "eth0"]


def test_the_worker_coalesces_and_builds_off_the_calling_thread():
    release = threading.Event()
    built_from, threads = [], set()

    class Slow:
        bad_rows: dict = {}

        def build(self, state):
            threads.add(threading.current_thread().name)
            release.wait(10)
            built_from.append(state)
            return state

    delivered = []
    worker = IndexWorker(Slow(), delivered.append)
    states = [served.state() for _ in range(5)]
    worker.request(states[0])
    for state in states[1:]:  # while the first build runs: only the newest is kept
        worker.request(state)
    release.set()
    assert worker.wait_idle()
    worker.close()
    assert built_from == [states[0], states[4]] and delivered == built_from
    assert worker.builds == 2 and worker.requests == 5
    assert threads and all(name.startswith("agentx-index") for name in threads)


class _Recorded:
    """An AreaIndexes stand-in that notes when each build ran (perf_counter)."""

    bad_rows: dict = {}

    def __init__(self):
        self.built_at = []

    def build(self, state):
        self.built_at.append(time.perf_counter())
        return state


def test_a_build_waits_while_the_master_walks_and_goes_when_it_stops(monkeypatch):
    # A gap far longer than the test's requests' spacing: a busy machine that stalls this
    # thread for a moment does not make a gap.
    monkeypatch.setattr(indexer, "WALK_GAP", 2.0)
    monkeypatch.setattr(indexer, "MAX_DEFER", 60.0)  # never reached here
    last = [time.perf_counter()]
    recorded, delivered = _Recorded(), []
    worker = IndexWorker(recorded, delivered.append, lambda: last[0])
    worker.request(served.state())
    walked_until = time.perf_counter() + 0.5
    while time.perf_counter() < walked_until:  # requests keep coming: no build meanwhile
        last[0] = time.perf_counter()
        assert not recorded.built_at
        time.sleep(0.005)
    assert worker.wait_idle(30)
    worker.close()
    # Built once the master was quiet for WALK_GAP, from the state asked for.
    assert len(delivered) == 1 and recorded.built_at[0] >= last[0] + 2.0
    assert worker.deferred == 1 and worker.builds == 1


def test_a_walk_that_never_ends_delays_a_build_by_max_defer_at_most(monkeypatch):
    monkeypatch.setattr(indexer, "MAX_DEFER", 0.3)
    recorded = _Recorded()
    worker = IndexWorker(recorded, lambda index: None, time.perf_counter)  # always asking
    asked = time.perf_counter()
    worker.request(served.state())
    assert worker.wait_idle(30)
    worker.close()
    assert recorded.built_at[0] - asked >= 0.3 and worker.deferred == 1


def test_a_quiet_master_never_delays_a_build():
    recorded = _Recorded()
    worker = IndexWorker(recorded, lambda index: None, lambda: 0.0)  # asked long ago
    for _ in range(3):
        worker.request(served.state())
        assert worker.wait_idle(30)
    worker.close()
    assert worker.builds == len(recorded.built_at) >= 1 and worker.deferred == 0


# -- the frontend against a scripted master ------------------------------------------


def config_for(path, **changes) -> Config:
    return Config(path="test", agentx=AgentxConfig(enabled=True, master=str(path), timeout=2.0,
                                                   **changes))


def test_frontend_serves_notifies_reports_and_reloads(tmp_path):
    async def scenario():
        master = FakeMaster(tmp_path / "master", expected_registers=len(SUBTREES),
                            probes=PROBES)
        await master.start()
        store = StateStore(served.state())
        frontend = Agentx()
        frontend.interfaces = served.if_index  # the sample's interfaces, not this host's
        frontend.router_id = "lb1"
        await frontend.start(store, config_for(master.path))
        conn = await master.connection()
        vrrp = mapping.subtrees(BASE)["KEEPALIVED-MIB vrrp"]
        registers = await conn.handshake(refuse={vrrp: ErrorCode.DUPLICATE_REGISTRATION})
        assert [register.subtree for register in registers] == SUBTREES
        assert conn.probed == PROBES  # keepalived's objects tried first, none held

        # Answers come from the index of the published state.
        ids = dict(session_id=SESSION, transaction_id=1)
        answer = await conn.ask(codec.Get(packet_id=conn.next_id(), **ids, ranges=(
            SearchRange(keepalived_mib.VERSION), SearchRange(keepalived_mib.ROUTER_ID))))
        assert [vb.value for vb in answer.varbinds] == [
            Value.octet_string("lvsmon v0.1.0"), Value.octet_string("lb1")]

        # The frontend reports itself: connected, served and refused subtrees, counters.
        def reported():
            state = store.current.frontends.get("agentx")
            return state if state is not None and state.connected else None

        await wait_until(reported)
        report = reported()
        assert report.running and report.endpoints == (str(master.path),)
        assert report.refused == (".".join(map(str, vrrp)),)
        assert len(report.served) == len(SUBTREES) - 1
        assert report.counters["pdus_answered.get"] == 1

        # A state change becomes a notification (Notify, answered by the master).
        later = with_participant(store.current, state="BACKUP", events=(
            *store.current.participant.snapshot.instances[0].events,
            StateEvent(T0 + 20, "MASTER", "BACKUP", "higher priority 200 from 10.0.0.9", 150)))
        store.publish(participant=later.participant)
        notify = await conn.read()
        assert isinstance(notify, codec.Notify), notify
        assert notify.varbinds[0].name == SNMP_TRAP_OID_0
        assert notify.varbinds[0].value == Value.object_identifier(
            keepalived_mib.VRRP_INSTANCE_STATE_CHANGE)
        conn.send(codec.Response(session_id=SESSION, packet_id=notify.packet_id))
        await wait_until(lambda: frontend.raised["vrrpInstanceStateChange"] == 1)
        # ... and the index follows (built in the worker thread).
        state_column = keepalived_mib.VRRP_INSTANCE_ENTRY + (4, 1)

        async def current_state():
            answer = await conn.ask(codec.Get(packet_id=conn.next_id(), **ids,
                                              ranges=(SearchRange(state_column),)))
            return answer.varbinds[0].value

        for _ in range(200):
            if await current_state() == Value.integer32(1):
                break
            await asyncio.sleep(0.02)
        assert await current_state() == Value.integer32(1)  # backup

        # A real server set to weight 0: compared in the diff thread, sent from the loop.
        table = store.current.ipvs.snapshot
        web = table.services[2]
        drained = dataclasses.replace(web, real_servers=(
            web.real_servers[0], dataclasses.replace(web.real_servers[1], weight=0)))
        store.publish(ipvs=dataclasses.replace(store.current.ipvs, snapshot=dataclasses.replace(
            table, services=(*table.services[:2], drained))))
        notify = await conn.read()
        assert isinstance(notify, codec.Notify), notify
        assert notify.varbinds[0].value == Value.object_identifier(
            keepalived_mib.REAL_SERVER_STATE_CHANGE)
        status = {vb.name: vb.value for vb in notify.varbinds}[
            keepalived_mib.REAL_SERVER_ENTRY + (6, 1, 1)]
        assert status == Value.integer32(keepalived_mib.DEAD)
        conn.send(codec.Response(session_id=SESSION, packet_id=notify.packet_id))

        # A reload with the same [agentx] keeps the session; a changed one restarts it.
        await frontend.reload(config_for(master.path))
        assert master.accepted.empty()
        stopping = asyncio.create_task(frontend.reload(config_for(master.path, priority=100)))
        close = await conn.read()
        assert isinstance(close, codec.Close)
        conn.send(codec.Response(session_id=SESSION, packet_id=close.packet_id))
        await stopping
        conn = await master.connection()
        opened = await conn.read()
        assert isinstance(opened, codec.Open)

        # Off: the session ends and the report says so.
        await frontend.reload(Config(path="test"))
        assert store.current.frontends["agentx"] == FrontendState(running=False)
        await frontend.stop()
        await master.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_walk_answered_without_a_pdu_is_the_framed_walk(tmp_path, monkeypatch):
    index = indexes().build(served.state())
    fast = []  # the starts answered by Subagent._walk_step
    walk_step = Subagent._walk_step
    monkeypatch.setattr(Subagent, "_walk_step", lambda agent, connection, request: (
        fast.append(request[3]), walk_step(agent, connection, request)))

    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        agent = Subagent(AgentxSettings(enabled=True, master=str(master.path), timeout=2.0),
                         index=index)
        await agent.start()
        conn = await master.connection()
        await conn.handshake()

        async def walk(network_byte_order: bool) -> list[codec.VarBind]:
            varbinds, start = [], ()
            while not varbinds or varbinds[-1].value != END_OF_MIB_VIEW:
                answer = await conn.ask(codec.GetNext(
                    session_id=SESSION, transaction_id=len(varbinds), packet_id=conn.next_id(),
                    ranges=(SearchRange(start),)), network_byte_order)
                assert answer.transaction_id == len(varbinds) and answer.error == 0
                varbinds.extend(answer.varbinds)
                start = varbinds[-1].name
            return varbinds

        framed = await walk(network_byte_order=False)  # host order: the Framer and a Pdu
        assert not fast
        steps = await walk(network_byte_order=True)
        assert steps == framed == [*(codec.VarBind(*pair) for pair in index),
                                   codec.VarBind(index.last, END_OF_MIB_VIEW)]
        assert fast == [(), *(oid for oid, _ in index)]
        assert agent.counters.pdus_answered == {"getNext": 2 * (len(index) + 1)}
        assert sum(agent.counters.bad_pdus.values()) == 0
        stopping = asyncio.create_task(agent.stop())
        close = await conn.read()
        conn.send(codec.Response(session_id=SESSION, packet_id=close.packet_id))
        await stopping
        await master.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


# -- `lvsmon status` and metrics ---------------------------------------------------------


AGENTX = FrontendState(
    running=True, connected=True, endpoints=("/var/agentx/master",),
    served=("1.3.6.1.4.1.9586.100.5.3", "1.3.6.1.4.1.8072.9999.9999.5866"),
    refused=("1.3.6.1.4.1.9586.100.5.2", "1.3.6.1.2.1.207 (requestDenied)"),
    counters=FrozenDict({"pdus_answered.getBulk": 12, "bad_pdus.truncated": 1,
                         "reconnects": 2, "index_size": 345,
                         "slowest_answer_microseconds": 1500}))  # fmt: skip
EXPORTER = FrontendState(running=True, endpoints=(":10573",))


def summary(**frontends) -> list[str]:
    state = DaemonState(DaemonInfo("0.1.0", 7, 0.0, 0.0), frontends=FrozenDict(frontends))
    return render_summary(state, 10.0).splitlines()


def test_status_prints_a_line_per_frontend():
    lines = summary(exporter=EXPORTER, agentx=AGENTX)
    assert lines[-2:] == [
        "AgentX: connected to /var/agentx/master, serving 1.3.6.1.4.1.9586.100.5.3, "
        "1.3.6.1.4.1.8072.9999.9999.5866; refused 1.3.6.1.4.1.9586.100.5.2 (another subagent "
        "holds it), 1.3.6.1.2.1.207 (requestDenied)",
        "exporter: listening on :10573"]
    waiting = dataclasses.replace(AGENTX, connected=False, served=(), refused=(),
                                  error="Connection refused: /var/agentx/master")
    assert summary(agentx=waiting)[-1] == ("AgentX: not connected to /var/agentx/master, "
                                           "retrying: Connection refused: /var/agentx/master")
    assert summary(agentx=FrontendState(running=False))[-1] == "AgentX: off"


def samples(families) -> dict:
    found = {}
    for family in families:
        assert isinstance(family, Metric)
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_say_which_subtrees_lvsmon_serves():
    state = DaemonState(DaemonInfo("0.1.0", 7, 0.0, 0.0),
                        frontends=FrozenDict(exporter=EXPORTER, agentx=AGENTX))
    found = samples(frontend_families(state))
    assert found[("lvsmon_frontend_up", (("frontend", "agentx"),))] == 1
    assert found[("lvsmon_frontend_up", (("frontend", "exporter"),))] == 1
    assert found[("lvsmon_agentx_connected", ())] == 1
    subtree = "lvsmon_agentx_subtree_served"
    assert {labels[0][1]: value for (name, labels), value in found.items()
            if name == subtree} == {"1.3.6.1.4.1.9586.100.5.3": 1,
                                    "1.3.6.1.4.1.8072.9999.9999.5866": 1,
                                    "1.3.6.1.4.1.9586.100.5.2": 0, "1.3.6.1.2.1.207": 0}
    assert found[("lvsmon_agentx_requests_total", (("request", "getBulk"),))] == 12
    assert found[("lvsmon_agentx_bad_pdus_total", (("reason", "truncated"),))] == 1
    assert found[("lvsmon_agentx_reconnects_total", ())] == 2
    assert found[("lvsmon_agentx_index_values", ())] == 345
    assert found[("lvsmon_agentx_slowest_answer_seconds", ())] == 0.0015
    off = DaemonState(DaemonInfo("0.1.0", 7, 0.0, 0.0),
                      frontends=FrozenDict(agentx=FrontendState(running=False)))
    assert samples(frontend_families(off)) == {
        ("lvsmon_frontend_up", (("frontend", "agentx"),)): 0}
