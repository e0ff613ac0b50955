"""The drain guard's decisions (lvsmon.drain_guard) and undrain's weight (lvsmon.pool).

The state file is real (a temp dir); IPVS is an in-memory table with the two calls the
guard uses and the two drain/undrain use. What keepalived does to it is done here by hand:
setting a weight back, removing a real server, removing the whole service. The guest test
(tests/vm/guest/test_drain_hold.py) does the same with keepalived and a real kernel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import pytest

from lvsmon import drain_guard
from lvsmon.cli.daemon_cmd import render_summary
from lvsmon.drain_guard import DrainGuard
from lvsmon.errors import LvsmonError, NotFound
from lvsmon.model import ConfiguredRealServer, IpvsTable, RealServer, ServiceKey, VirtualService
from lvsmon.model.codec import from_json, to_json
from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.drain import DrainGuardSnapshot
from lvsmon.pool import DrainState, DrainTarget, begin_drain, undrain

WEB = ServiceKey("tcp", "inet", "10.0.0.1", 80)
DNS = ServiceKey("udp", "inet6", "2001:db8::1", 53)
RS1 = DrainTarget(WEB, "10.0.1.1", 8080)
RS2 = DrainTarget(WEB, "10.0.1.2", 8080)
RS6 = DrainTarget(DNS, "2001:db8::2", 53)


class Table:
    """IPVS as a dict: {service: {(address, port): weight}}; counts the weight writes."""

    def __init__(self, services: dict[ServiceKey, dict[tuple[str, int], int]]):
        self.services = services
        self.writes: list[tuple[str, int]] = []
        self.reads = 0

    def read_real_servers(self, key: ServiceKey) -> tuple[RealServer, ...]:
        self.reads += 1
        if key not in self.services:
            raise NotFound(f"no virtual service {key}")
        return tuple(RealServer(address, port, "masq", weight, 0, 0)
                     for (address, port), weight in self.services[key].items())

    def read_table(self) -> IpvsTable:
        return IpvsTable("netlink", 0.0, services=tuple(
            VirtualService(key, "wrr", real_servers=self.read_real_servers(key))
            for key in self.services))  # fmt: skip

    def set_weight(self, key: ServiceKey, address: str, port: int, weight: int) -> None:
        servers = self.services.get(key)
        if servers is None or (address, port) not in servers:
            raise NotFound(f"no real server {address}:{port} in {key}")
        servers[(address, port)] = weight
        self.writes.append((f"{address}:{port}", weight))

    def weight(self, target: DrainTarget) -> int:
        return self.services[target.service][(target.address, target.port)]


@pytest.fixture
def table():
    return Table({WEB: {("10.0.1.1", 8080): 100, ("10.0.1.2", 8080): 50},
                  DNS: {("2001:db8::2", 53): 7}})


@pytest.fixture
def state(tmp_path):
    return DrainState(tmp_path / "state")


def test_nothing_drained_reads_no_service_and_creates_nothing(table, state):
    snapshot = DrainGuard(state, table).check()
    assert snapshot.drains == () and snapshot.problems == () and snapshot.checks == 1
    assert table.reads == 0 and table.writes == []
    assert not state.directory.exists()  # a directory that does not exist holds no drains


def test_a_weight_written_back_is_set_to_0_once_and_counted(table, state):
    begin_drain(table, RS1, state)
    assert table.weight(RS1) == 0
    guard = DrainGuard(state, table, clock=lambda: 1000.0)
    table.writes.clear()
    assert guard.check().drains[0].reasserted == 0 and table.writes == []  # still 0: untouched

    table.services[WEB][("10.0.1.1", 8080)] = 100  # keepalived: the check passed again
    snapshot = guard.check()
    assert table.weight(RS1) == 0 and table.writes == [("10.0.1.1:8080", 0)]
    held = snapshot.held("tcp:10.0.0.1:80", "10.0.1.1:8080")
    assert (held.weight, held.saved_weight, held.reasserted, held.restored_weight,
            held.last_reasserted_at) == (0, 100, 1, 100, 1000.0)
    assert snapshot.reasserted_total == 1
    assert table.weight(RS2) == 50  # never touches what is not drained

    guard.check()
    assert len(table.writes) == 1  # nothing to do: no second write
    table.services[WEB][("10.0.1.1", 8080)] = 80  # a reload with another weight
    snapshot = guard.check()
    assert snapshot.drains[0].reasserted == 2 and snapshot.drains[0].restored_weight == 80
    assert snapshot.reasserted_total == 2 and table.weight(RS1) == 0


def test_a_real_server_or_service_gone_is_reported_and_left_alone(table, state):
    begin_drain(table, RS1, state)
    begin_drain(table, RS6, state)
    guard = DrainGuard(state, table)
    table.writes.clear()
    del table.services[WEB][("10.0.1.1", 8080)]  # keepalived removed it: its check failed
    del table.services[DNS]  # keepalived stopping
    snapshot = guard.check()
    assert [(d.service, d.real_server, d.weight) for d in snapshot.drains] == [
        ("tcp:10.0.0.1:80", "10.0.1.1:8080", None),
        ("udp:[2001:db8::1]:53", "[2001:db8::2]:53", None)]
    assert table.writes == []
    # keepalived adds it back at its weight when the check passes: held from that look on.
    table.services[WEB][("10.0.1.1", 8080)] = 100
    assert guard.check().held("tcp:10.0.0.1:80", "10.0.1.1:8080").weight == 0
    assert table.weight(RS1) == 0


def test_entries_it_cannot_read_are_problems_never_touched(table, state):
    with state.locked() as entries:
        entries["tcp:10.0.0.1:80 10.0.1.2:8080"] = {"weight": "fifty"}
        entries["nonsense"] = {"weight": 3}
        entries[RS1.state_key] = {"weight": 100}
    snapshot = DrainGuard(state, table).check()
    assert [d.real_server for d in snapshot.drains] == ["10.0.1.1:8080"]
    assert len(snapshot.problems) == 2
    assert any("no saved weight" in p and "10.0.1.2:8080" in p for p in snapshot.problems)
    assert any("'nonsense'" in p for p in snapshot.problems)
    assert table.weight(RS2) == 50 and table.writes == [("10.0.1.1:8080", 0)]


def test_an_unreadable_state_file_is_an_error_and_changes_nothing(table, state):
    begin_drain(table, RS1, state)
    table.services[WEB][("10.0.1.1", 8080)] = 100
    state.path.write_text("{broken")
    with pytest.raises(LvsmonError, match="unreadable drain state"):
        DrainGuard(state, table).check()
    assert table.weight(RS1) == 100


def test_undrain_lets_go_and_gives_keepalived_weight(table, state):
    begin_drain(table, RS1, state)
    guard = DrainGuard(state, table)
    table.services[WEB][("10.0.1.1", 8080)] = 100
    assert guard.check().reasserted_total == 1
    configured = ConfiguredRealServer("10.0.1.1", 8080, 120, "masq", where="k.conf:12")
    done = undrain(table, RS1, state, configured)
    assert (done.weight, done.in_table) == (120, True) and table.weight(RS1) == 120
    assert json.loads(state.path.read_text()) == {}
    snapshot = guard.check()
    assert snapshot.drains == () and table.weight(RS1) == 120  # let go
    # Drained again: counted afresh.
    begin_drain(table, RS1, state)
    table.services[WEB][("10.0.1.1", 8080)] = 120
    assert guard.check().drains[0].reasserted == 1


def test_undrain_without_keepalived_weight_restores_the_saved_one(table, state):
    begin_drain(table, RS2, state)
    done = undrain(table, RS2, state)
    assert (done.weight, done.configured) == (50, None) and table.weight(RS2) == 50


def test_undrain_of_a_server_out_of_ipvs(table, state):
    begin_drain(table, RS1, state)
    del table.services[WEB][("10.0.1.1", 8080)]
    # Nothing would put it back without keepalived: refused, the drain kept.
    with pytest.raises(NotFound):
        undrain(table, RS1, state)
    assert RS1.state_key in json.loads(state.path.read_text())
    # keepalived configures it: the drain ends, keepalived adds it when its check passes.
    configured = ConfiguredRealServer("10.0.1.1", 8080, 100, "masq")
    done = undrain(table, RS1, state, configured)
    assert (done.weight, done.in_table) == (100, False)
    assert json.loads(state.path.read_text()) == {}


def test_a_failed_weight_write_keeps_the_drain(table, state):
    begin_drain(table, RS1, state)

    def refuse(*_):
        raise LvsmonError("permission denied")

    table.set_weight = refuse
    with pytest.raises(LvsmonError):
        undrain(table, RS1, state)
    assert RS1.state_key in json.loads(state.path.read_text())  # undrain can run again


@pytest.mark.parametrize("target", [RS1, RS6, DrainTarget(
    ServiceKey("fwm", None, fwmark=7), "10.0.1.3", 0)])
def test_state_keys_name_their_target(target):
    assert DrainTarget.from_state_key(target.state_key).state_key == target.state_key


def _snapshot(table, state) -> DrainGuardSnapshot:
    begin_drain(table, RS1, state)
    table.services[WEB][("10.0.1.1", 8080)] = 100
    return DrainGuard(state, table, clock=lambda: 1000.0).check()


def test_the_snapshot_travels_in_the_daemon_state_and_prints(table, state):
    snapshot = _snapshot(table, state)
    daemon = DaemonState(daemon=DaemonInfo(version="1", pid=1, started_at=0.0, updated_at=5.0),
                         drains=SourceState(enabled=True, snapshot=snapshot))
    back = from_json(DaemonState, json.loads(json.dumps(to_json(daemon))))
    assert back.drains.snapshot == snapshot
    text = render_summary(back, 10.0)
    assert "Drain guard: 1 drain held at weight 0 from" in text
    assert "set back to 0 1 time" in text
    assert "tcp:10.0.0.1:80 10.0.1.1:8080: weight 0 (saved 100" in text
    assert "keepalived wrote 100 back, set to 0 1 time" in text
    off = render_summary(dataclasses.replace(back, drains=SourceState(enabled=False)), 10.0)
    assert "Drain guard: off" in off


def test_the_daemon_body_holds_drains_in_its_thread(table, state):
    begin_drain(table, RS1, state)
    published: list[DrainGuardSnapshot] = []
    failures: list[str] = []
    lock = threading.Lock()

    def factory():
        return table

    async def scenario():
        task = asyncio.create_task(drain_guard.hold_drains(
            lambda: str(state.directory), published.append, failures.append, factory,
            interval=0.01))  # fmt: skip
        try:
            with lock:
                table.services[WEB][("10.0.1.1", 8080)] = 100
            for _ in range(2000):
                if published and published[-1].reasserted_total == 1:
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    assert published[-1].reasserted_total == 1 and failures == []
    assert table.weight(RS1) == 0


def test_the_daemon_body_reports_a_failed_look_and_goes_on(tmp_path, table):
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / "drained.json").write_text("[]")
    failures: list[str] = []

    async def scenario():
        task = asyncio.create_task(drain_guard.hold_drains(
            lambda: str(directory), lambda _: None, failures.append, lambda: table,
            interval=0.01))  # fmt: skip
        for _ in range(1000):
            if failures:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert failures and "unreadable drain state" in failures[0]
