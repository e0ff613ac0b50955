"""DaemonState -> (oid, kind, value): every served column's value and type, row order, and
empty tables when a source is absent or unavailable. States are built by hand
(lvsmon_snmp.mib.served, plus variations here)."""

from __future__ import annotations

import dataclasses

import pytest

from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.ipvs import Counters, IpvsTable, RealServer, ServiceKey, VirtualService
from lvsmon.model.vrrp import StateEvent
from lvsmon_snmp.mib import encode, keepalived_mib, lvsmon_mib, mapping, served, vrrpv3_mib
from lvsmon_snmp.mib.served import T0

KA = keepalived_mib.KEEPALIVED
INST = keepalived_mib.VRRP_INSTANCE_ENTRY
ADDR = keepalived_mib.VRRP_ADDRESS_ENTRY
VS = keepalived_mib.VIRTUAL_SERVER_ENTRY
RS = keepalived_mib.REAL_SERVER_ENTRY
OPS = vrrpv3_mib.OPERATIONS_ENTRY
STATS = vrrpv3_mib.STATISTICS_ENTRY


def table(rows) -> dict:
    found = {}
    for oid, kind, value in rows:
        assert oid not in found, f"{oid} served twice"
        found[oid] = (kind, value)
    return found


@pytest.fixture(scope="module")
def ka() -> dict:
    return table(keepalived_mib.rows(served.state(), if_index=served.if_index, router_id="lb1"))


@pytest.fixture(scope="module")
def v3() -> dict:
    return table(vrrpv3_mib.rows(served.state(), served.if_index))


@pytest.fixture(scope="module")
def lv() -> dict:
    return table(lvsmon_mib.rows(served.state(), served.if_index))


def column(found: dict, entry: tuple, number: int) -> dict:
    """{index: (kind, value)} of one column."""
    prefix = entry + (number,)
    return {oid[len(prefix):]: value for oid, value in found.items()
            if oid[:len(prefix)] == prefix}  # fmt: skip


# -- KEEPALIVED-MIB: global and VRRP ----------------------------------------------------------


def test_global(ka):
    assert ka[KA + (1, 1, 0)] == ("OctetString", b"lvsmon v0.1.0")
    assert ka[KA + (1, 2, 0)] == ("OctetString", b"lb1")
    without = table(keepalived_mib.global_rows(served.state()))
    assert KA + (1, 2, 0) not in without


@pytest.mark.parametrize(("number", "expected"), [
    (2, {(1,): ("OctetString", b"web"), (2,): ("OctetString", b"legacy"),
         (3,): ("OctetString", b"v6")}),
    (3, {(1,): ("Unsigned32", 51), (2,): ("Unsigned32", 52), (3,): ("Unsigned32", 53)}),
    (4, {(1,): ("Integer32", 2), (2,): ("Integer32", 1), (3,): ("Integer32", 2)}),
    (5, {(1,): ("Integer32", 1), (2,): ("Integer32", 1), (3,): ("Integer32", 2)}),
    (6, {(1,): ("Integer32", 2), (2,): ("Integer32", 1), (3,): ("Integer32", 2)}),
    (7, {(1,): ("Integer32", 150), (2,): ("Integer32", 100), (3,): ("Integer32", 255)}),
    (8, {(1,): ("Integer32", 150), (2,): ("Integer32", 100), (3,): ("Integer32", 255)}),
    (9, {(1,): ("Integer32", 1), (2,): ("Integer32", 2), (3,): ("Integer32", 1)}),
    (10, {(1,): ("OctetString", b"eth0"), (2,): ("OctetString", b"eth0"),
          (3,): ("OctetString", b"eth1")}),
    (11, {(i,): ("Integer32", 2) for i in (1, 2, 3)}),
    (12, {(1,): ("Unsigned32", 100), (2,): ("Unsigned32", 1), (3,): ("Unsigned32", 100)}),
    (13, {(1,): ("Integer32", 1), (2,): ("Integer32", 1), (3,): ("Integer32", 2)}),
    (14, {(1,): ("Unsigned32", 5), (2,): ("Unsigned32", 0), (3,): ("Unsigned32", 0)}),
    (15, {(1,): ("Integer32", 0), (2,): ("Integer32", 1), (3,): ("Integer32", 0)}),
    (20, {(i,): ("Integer32", 2) for i in (1, 2, 3)}),
    (21, {(1,): ("Integer32", 1), (2,): ("Integer32", 2), (3,): ("Integer32", 2)}),
    (26, {(1,): ("OctetString", b"/usr/local/bin/vrrp-notify '--from lvsmon'")}),
    (27, {(1,): ("Integer32", 1), (3,): ("Integer32", 1)}),  # accept: VRRPv3 only
    (28, {(i,): ("Integer32", 2) for i in (1, 2, 3)}),
    (29, {(i,): ("Integer32", 2) for i in (1, 2, 3)}),
    (30, {(1,): ("Integer32", 3), (2,): ("Integer32", 2), (3,): ("Integer32", 3)}),
    (33, {(i,): ("Integer32", 2) for i in (1, 2, 3)}),
    # the multicast group, left out for the unicast instance (legacy)
    (34, {(1,): ("Integer32", 1), (3,): ("Integer32", 2)}),
    (35, {(1,): ("OctetString", bytes([224, 0, 0, 18])),
          (3,): ("OctetString", encode.octets("ff02::12"))}),
])
def test_vrrp_instance_columns(ka, number, expected):
    assert column(ka, INST, number) == expected


def test_vrrp_instance_table_serves_only_these_columns(ka):
    numbers = {oid[len(INST)] for oid in ka if oid[:len(INST)] == INST}
    assert numbers == {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 26, 27, 28, 29,
                       30, 33, 34, 35}


@pytest.mark.parametrize(("number", "expected"), [
    (2, {(1, 1): ("Integer32", 1), (1, 2): ("Integer32", 1), (2, 1): ("Integer32", 1),
         (3, 1): ("Integer32", 2)}),
    (3, {(1, 1): ("OctetString", bytes([10, 0, 0, 100])),
         (1, 2): ("OctetString", bytes([10, 0, 0, 101])),
         (2, 1): ("OctetString", bytes([10, 0, 0, 102])),
         (3, 1): ("OctetString", bytes.fromhex("fd000000000000000000000000000100"))}),
    (4, {(1, 1): ("OctetString", bytes(4)), (1, 2): ("OctetString", bytes(4)),
         (2, 1): ("OctetString", bytes(4))}),
    (5, {(1, 1): ("Unsigned32", 24), (1, 2): ("Unsigned32", 24), (2, 1): ("Unsigned32", 24),
         (3, 1): ("Unsigned32", 64)}),
    (6, {index: ("Integer32", 14) for index in ((1, 1), (1, 2), (2, 1), (3, 1))}),
    # web has vmac = true: its VIPs live on the macvlan vrrp.51
    (7, {(1, 1): ("Integer32", 4), (1, 2): ("Integer32", 4), (2, 1): ("Integer32", 2),
         (3, 1): ("Integer32", 3)}),
    (8, {(1, 1): ("OctetString", b"vrrp.51"), (1, 2): ("OctetString", b"vrrp.51"),
         (2, 1): ("OctetString", b"eth0"), (3, 1): ("OctetString", b"eth1")}),
    (10, {(1, 1): ("Integer32", 1), (1, 2): ("Integer32", 1), (2, 1): ("Integer32", 2),
          (3, 1): ("Integer32", 1)}),
    (11, {index: ("Integer32", 1) for index in ((1, 1), (1, 2), (2, 1), (3, 1))}),
])
def test_vrrp_address_columns(ka, number, expected):
    assert column(ka, ADDR, number) == expected


def test_an_address_whose_interface_has_no_index_keeps_its_other_columns():
    found = table(keepalived_mib.vrrp_rows(served.state(), lambda name: None))
    assert column(found, ADDR, 7) == {}
    assert len(column(found, ADDR, 3)) == 4


# -- KEEPALIVED-MIB: IPVS ---------------------------------------------------------------------


def test_virtual_servers_are_numbered_address_services_first_then_marks(ka):
    # The sample lists (fwm 7, udp [fd00::100]:53, tcp 10.0.0.100:80) in that order.
    assert column(ka, VS, 2) == {(1,): ("Integer32", 2), (2,): ("Integer32", 2),
                                 (3,): ("Integer32", 1)}
    assert column(ka, VS, 6) == {(1,): ("OctetString", bytes([10, 0, 0, 100])),
                                 (2,): ("OctetString", encode.octets("fd00::100"))}
    assert column(ka, VS, 4) == {(3,): ("Unsigned32", 7)}


@pytest.mark.parametrize(("number", "expected"), [
    (5, {(1,): ("Integer32", 1), (2,): ("Integer32", 2), (3,): ("Integer32", 1)}),
    (7, {(1,): ("Unsigned32", 80), (2,): ("Unsigned32", 53)}),
    (8, {(1,): ("Integer32", 1), (2,): ("Integer32", 2)}),
    (9, {(1,): ("Integer32", 2), (2,): ("Integer32", 1), (3,): ("Integer32", 13)}),
    (13, {(1,): ("Integer32", 1), (2,): ("Integer32", 1), (3,): ("Integer32", 2)}),
    (14, {(1,): ("Unsigned32", 300), (2,): ("Unsigned32", 60)}),
    (15, {(1,): ("OctetString", bytes([255, 255, 255, 0]))}),
    (51, {(2,): ("Unsigned32", 64)}),
    (20, {(1,): ("Unsigned32", 2), (2,): ("Unsigned32", 1), (3,): ("Unsigned32", 1)}),
    (21, {(1,): ("Unsigned32", 1), (2,): ("Unsigned32", 1), (3,): ("Unsigned32", 1)}),
    (37, {(1,): ("Integer32", 2), (2,): ("Integer32", 1), (3,): ("Integer32", 2)}),
    (53, {(1,): ("Integer32", 1), (2,): ("Integer32", 2), (3,): ("Integer32", 2)}),
    (55, {(1,): ("Integer32", 2), (2,): ("Integer32", 2), (3,): ("Integer32", 1)}),
])
def test_virtual_server_columns(ka, number, expected):
    assert column(ka, VS, number) == expected


# stats = Counters(2**33 + 5, 2**32 + 7, 9, 2**40, 3); rates = Counters(4, 2**32 + 1, 6, 7, 8)
@pytest.mark.parametrize(("number", "kind", "value"), [
    (27, "Gauge32", 5), (28, "Counter32", 7), (29, "Counter32", 9),
    (30, "Counter64", 2**40), (31, "Counter64", 3),
    (32, "Gauge32", 4), (33, "Gauge32", 1), (34, "Gauge32", 6), (35, "Gauge32", 7),
    (36, "Gauge32", 8),
    (38, "Counter64", 2**33 + 5), (39, "Counter64", 2**32 + 7), (40, "Counter64", 9),
    (41, "Unsigned32", 4), (42, "Unsigned32", 0), (43, "Unsigned32", 1), (44, "Unsigned32", 1),
    (49, "Unsigned32", 8), (50, "Unsigned32", 0),
    (74, "Counter64", 4), (75, "Counter64", 2**32 + 1), (78, "Counter64", 8),
])
def test_virtual_server_counters_whole_and_halved(ka, number, kind, value):
    assert ka[VS + (number, 1)] == (kind, value)
    assert VS + (number, 3) not in ka  # the firewall-mark service has no counters (None)


def test_real_servers_are_numbered_by_address(ka):
    assert column(ka, RS, 4)[(1, 1)] == ("OctetString", bytes([10, 0, 1, 2]))
    assert column(ka, RS, 4)[(1, 2)] == ("OctetString", bytes([10, 0, 1, 3]))


@pytest.mark.parametrize(("number", "expected"), [
    (3, {(1, 1): ("Integer32", 1), (1, 2): ("Integer32", 1), (2, 1): ("Integer32", 2),
         (3, 1): ("Integer32", 1)}),
    (5, {(1, 1): ("Unsigned32", 80), (1, 2): ("Unsigned32", 80), (2, 1): ("Unsigned32", 53),
         (3, 1): ("Unsigned32", 0)}),
    (6, {(1, 1): ("Integer32", 1), (1, 2): ("Integer32", 2), (2, 1): ("Integer32", 1),
         (3, 1): ("Integer32", 1)}),
    (7, {(1, 1): ("Integer32", 3), (1, 2): ("Integer32", 0), (2, 1): ("Integer32", 1),
         (3, 1): ("Integer32", 1)}),
    (8, {(1, 1): ("Unsigned32", 10)}),  # 0 means no limit: left out
    (9, {(1, 1): ("Unsigned32", 2)}),
    (15, {(1, 1): ("Gauge32", 4), (1, 2): ("Gauge32", 1), (2, 1): ("Gauge32", 0),
          (3, 1): ("Gauge32", 0)}),
    (16, {(1, 1): ("Gauge32", 5), (1, 2): ("Gauge32", 2), (2, 1): ("Gauge32", 0),
          (3, 1): ("Gauge32", 0)}),
    (17, {(1, 1): ("Gauge32", 1), (1, 2): ("Gauge32", 0)}),
    (40, {(1, 1): ("Integer32", 1), (1, 2): ("Integer32", 2), (2, 1): ("Integer32", 3)}),
    (18, {(1, 1): ("Counter32", 7), (1, 2): ("Counter32", 7)}),
    (20, {(1, 1): ("Counter64", 2**40), (1, 2): ("Counter64", 2**40)}),
    (58, {(1, 1): ("Counter64", 4), (1, 2): ("Counter64", 4)}),
])
def test_real_server_columns(ka, number, expected):
    assert column(ka, RS, number) == expected


def test_procfs_serves_no_scheduler_flags_and_unknown_values_are_left_out():
    table_ = IpvsTable("procfs", T0, (VirtualService(
        ServiceKey("fwm", None, fwmark=9), "wlc", flags=("persistent", "hashed"),
        real_servers=(RealServer("10.0.1.2", 0, "masq", 1, 0, 0),)),))
    state = DaemonState(DaemonInfo("0.1.0", 1, T0, T0),
                        ipvs=SourceState(enabled=True, snapshot=table_, last_success=T0))
    found = table(keepalived_mib.check_rows(state))
    numbers = {oid[len(VS)] for oid in found if oid[:len(VS)] == VS}
    assert numbers == {2, 4, 9, 13, 20, 21, 37}  # no family, timeout, flags or counters
    assert found[VS + (13, 1)] == ("Integer32", 1)  # persistent, timeout unknown
    assert found[VS + (9, 1)] == ("Integer32", 4)


def test_an_unknown_scheduler_is_99():
    service = VirtualService(ServiceKey("tcp", "inet", "10.0.0.1", 80), "weird")
    state = DaemonState(DaemonInfo("0.1.0", 1, T0, T0), ipvs=SourceState(
        enabled=True, snapshot=IpvsTable("netlink", T0, (service,))))
    assert table(keepalived_mib.check_rows(state))[VS + (9, 1)] == ("Integer32", 99)


# -- VRRPV3-MIB -------------------------------------------------------------------------------

IDX_WEB, IDX_LEGACY, IDX_V6 = (2, 51, 1), (2, 52, 1), (3, 53, 2)


@pytest.mark.parametrize(("number", "expected"), [
    (3, {IDX_WEB: ("OctetString", bytes([10, 0, 0, 11])),
         IDX_LEGACY: ("OctetString", bytes([10, 0, 0, 12])),
         IDX_V6: ("OctetString", encode.octets("fe80::11"))}),
    (4, {IDX_WEB: ("OctetString", bytes([10, 0, 0, 11])),
         IDX_LEGACY: ("OctetString", bytes([10, 0, 0, 11])),
         IDX_V6: ("OctetString", encode.octets("fe80::11"))}),
    (6, {IDX_WEB: ("Integer32", 3), IDX_LEGACY: ("Integer32", 2), IDX_V6: ("Integer32", 3)}),
    (7, {IDX_WEB: ("Unsigned32", 150), IDX_LEGACY: ("Unsigned32", 100),
         IDX_V6: ("Unsigned32", 255)}),
    (8, {IDX_WEB: ("Integer32", 2), IDX_LEGACY: ("Integer32", 1), IDX_V6: ("Integer32", 1)}),
    (9, {index: ("Integer32", 100) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
    (10, {IDX_WEB: ("Integer32", 1), IDX_LEGACY: ("Integer32", 1), IDX_V6: ("Integer32", 2)}),
    (11, {index: ("Integer32", 1) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
    (12, {index: ("TimeTicks", 900) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
    (13, {index: ("Integer32", 1) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
])
def test_vrrpv3_operations_columns(v3, number, expected):
    assert column(v3, OPS, number) == expected


def test_vrrpv3_operations_serves_no_other_column(v3):
    assert {oid[len(OPS)] for oid in v3 if oid[:len(OPS)] == OPS} == {
        3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
    # the RFC's virtual MAC, only where the VIPs live behind it (vmac = true)
    assert column(v3, OPS, 5) == {IDX_WEB: ("OctetString", bytes.fromhex("00005e000133"))}


def test_vrrpv3_associated_addresses_carry_their_length_in_the_index(v3):
    assoc = column(v3, vrrpv3_mib.ASSOCIATED_ENTRY, 2)
    assert assoc == {IDX_WEB + (4, 10, 0, 0, 100): ("Integer32", 1),
                     IDX_WEB + (4, 10, 0, 0, 101): ("Integer32", 1),
                     IDX_LEGACY + (4, 10, 0, 0, 102): ("Integer32", 1),
                     IDX_V6 + (16, *encode.octets("fd00::100")): ("Integer32", 1)}


@pytest.mark.parametrize(("number", "expected"), [
    (1, {IDX_WEB: ("Counter32", 1), IDX_LEGACY: ("Counter32", 0), IDX_V6: ("Counter32", 1)}),
    # preempted(2), notMaster(0), priority(1)
    (2, {IDX_WEB: ("Integer32", 2), IDX_LEGACY: ("Integer32", 0), IDX_V6: ("Integer32", 1)}),
    (3, {index: ("Counter64", 7) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
    (4, {index: ("Counter64", 0) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
    (5, {index: ("Counter64", 2) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
    # checksumError(3) last; noError(0) where none was refused yet
    (6, {IDX_WEB: ("Integer32", 3), IDX_LEGACY: ("Integer32", 0), IDX_V6: ("Integer32", 0)}),
    (7, {IDX_WEB: ("Counter64", 2), IDX_LEGACY: ("Counter64", 0), IDX_V6: ("Counter64", 0)}),
    (8, {IDX_WEB: ("Counter64", 1), IDX_LEGACY: ("Counter64", 0), IDX_V6: ("Counter64", 0)}),
    (9, {index: ("Counter64", 4) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
    (11, {index: ("Counter64", 3) for index in (IDX_WEB, IDX_LEGACY, IDX_V6)}),
])
def test_vrrpv3_statistics_columns(v3, number, expected):
    assert column(v3, STATS, number) == expected


def test_vrrpv3_router_statistics_sum_the_instances(v3):
    assert v3[vrrpv3_mib.STATISTICS + (1, 0)] == ("Counter64", 3)
    assert v3[vrrpv3_mib.STATISTICS + (2, 0)] == ("Counter64", 9)


def test_what_an_instance_no_longer_running_serves():
    state = served.state()
    web = state.participant.snapshot.instances[0]
    many = dataclasses.replace(  # 101 transitions, only the last 2 events kept
        web, transitions=101, state="FAULT", master=None,
        events=(StateEvent(T0 + 5, "MASTER", "BACKUP", "higher priority 200 from x", 150),
                StateEvent(T0 + 6, "BACKUP", "FAULT", "fault", 150)))
    state = dataclasses.replace(state, participant=dataclasses.replace(
        state.participant, snapshot=dataclasses.replace(state.participant.snapshot,
                                                        instances=(many,))))
    found = table(vrrpv3_mib.rows(state, served.if_index))
    assert OPS + (3, *IDX_WEB) not in found  # no master heard
    assert found[OPS + (6, *IDX_WEB)] == ("Integer32", 1)  # FAULT shows as initialize
    assert found[OPS + (12, *IDX_WEB)] == ("TimeTicks", 0)  # up time only when running
    # The counts come from the participant's own counters, not from the events kept.
    assert found[STATS + (1, *IDX_WEB)] == ("Counter32", 1)
    assert found[STATS + (2, *IDX_WEB)] == ("Integer32", 2)


def test_instances_without_vips_or_ifindex_have_no_vrrpv3_row():
    state = served.state()
    assert {oid[len(OPS) + 1:] for oid in table(vrrpv3_mib.rows(state, {"eth1": 3}.get))
            if oid[:len(OPS)] == OPS} == {IDX_V6}
    web = dataclasses.replace(state.participant.snapshot.instances[0], vips=())
    state = dataclasses.replace(state, participant=dataclasses.replace(
        state.participant, snapshot=dataclasses.replace(state.participant.snapshot,
                                                        instances=(web,))))
    found = table(vrrpv3_mib.rows(state, served.if_index))
    assert set(found) == {vrrpv3_mib.STATISTICS + (1, 0), vrrpv3_mib.STATISTICS + (2, 0)}


# -- LVSMON-MIB -------------------------------------------------------------------------------

LAYOUT = lvsmon_mib.Layout()
SEG = (2, 51, 1)


def test_daemon_and_sources(lv):
    assert lv[LAYOUT.daemon + (1, 0)] == ("OctetString", b"0.1.0")
    assert lv[LAYOUT.daemon + (2, 0)] == ("OctetString", encode.date_and_time(T0))
    assert lv[LAYOUT.daemon + (3, 0)] == ("Integer32", 1234)
    assert column(lv, LAYOUT.source_entry, 2) == {
        (1,): ("OctetString", b"vrrp"), (2,): ("OctetString", b"participant"),
        (3,): ("OctetString", b"ipvs"), (4,): ("OctetString", b"snat")}
    assert column(lv, LAYOUT.source_entry, 4) == {(i,): ("Integer32", 1) for i in (1, 2, 3, 4)}
    assert column(lv, LAYOUT.source_entry, 5) == {(i,): ("OctetString", b"")
                                                 for i in (1, 2, 3, 4)}
    assert column(lv, LAYOUT.source_entry, 6) == {}
    assert column(lv, LAYOUT.source_entry, 8) == {(i,): ("Counter32", 10) for i in (1, 2, 3, 4)}


def test_date_and_time_is_utc_in_eleven_octets():
    assert encode.date_and_time(T0 + 0.25) == bytes([0x07, 0xEA, 9, 21, 14, 13, 20, 2,
                                                     ord("+"), 0, 0])


def test_segment_columns(lv):
    assert lv[LAYOUT.segment_entry + (4, *SEG)] == ("OctetString", b"eth0")
    assert lv[LAYOUT.segment_entry + (5, *SEG)] == ("OctetString", bytes([10, 0, 0, 11]))
    assert lv[LAYOUT.segment_entry + (6, *SEG)] == ("OctetString", encode.date_and_time(T0 + 4))
    assert lv[LAYOUT.segment_entry + (7, *SEG)] == ("Counter32", 3)
    assert lv[LAYOUT.segment_entry + (8, *SEG)] == ("Gauge32", 2)
    assert lv[LAYOUT.segment_entry + (9, *SEG)] == ("Gauge32", 2)
    assert lv[LAYOUT.segment_entry + (10, *SEG)] == ("OctetString", bytes([0x80, 0x00]))
    assert lv[LAYOUT.segment_entry + (11, *SEG)] == ("Gauge32", 1)
    # the view on "gone0" has no ifIndex: not served
    assert len(column(lv, LAYOUT.segment_entry, 4)) == 1


def test_router_rows_are_indexed_by_length_and_address(lv):
    a, b = SEG + (4, 10, 0, 0, 11), SEG + (4, 10, 0, 0, 13)
    entry = LAYOUT.router_entry
    assert column(lv, entry, 2) == {a: ("Unsigned32", 150), b: ("Unsigned32", 120)}
    assert column(lv, entry, 3) == {a: ("Unsigned32", 100), b: ("Unsigned32", 100)}
    assert column(lv, entry, 4) == {a: ("Integer32", 3), b: ("Integer32", 2)}
    assert column(lv, entry, 5) == {b: ("Integer32", 1)}
    assert column(lv, entry, 6) == {a: ("OctetString", b"10.0.0.100,10.0.0.101"),
                                    b: ("OctetString", b"10.0.0.100")}
    assert column(lv, entry, 7) == {a: ("Counter64", 90), b: ("Counter64", 12)}
    assert column(lv, entry, 9)[b] == ("OctetString", encode.date_and_time(T0 + 9.5))
    assert column(lv, entry, 10) == {a: ("Integer32", 1), b: ("Integer32", 1)}
    assert column(lv, entry, 11) == {a: ("Integer32", 1), b: ("Integer32", 2)}


def test_only_active_anomalies_are_rows(lv):
    entry = LAYOUT.anomaly_entry
    assert column(lv, entry, 2) == {SEG + (1,): ("Integer32", 1)}  # splitBrain
    assert column(lv, entry, 3) == {SEG + (1,): ("OctetString", encode.date_and_time(T0 + 5))}
    assert column(lv, entry, 4) == {SEG + (1,): ("OctetString", b"10.0.0.11,10.0.0.13")}


def test_snat_scalars(lv):
    snat = LAYOUT.snat
    assert lv[snat + (1, 0)] == ("Integer32", 1)
    assert lv[snat + (2, 0)] == ("OctetString", b"")
    assert lv[snat + (5, 0)] == ("Counter64", 1000)
    assert lv[snat + (6, 0)] == ("Counter64", 600)
    assert lv[snat + (7, 0)] == ("Counter64", 5)  # max(kernel drops 5, overflows 2)
    assert lv[snat + (8, 0)] == ("Counter64", 2)
    assert lv[snat + (12, 0)] == ("Gauge32", 500)
    assert lv[snat + (14, 0)] == ("Gauge32", 12)


def test_the_base_oid_moves_the_whole_module():
    base = (1, 3, 6, 1, 4, 1, 99999, 7)
    found = table(lvsmon_mib.rows(served.state(), served.if_index, base))
    assert all(oid[:len(base)] == base for oid in found)
    assert len(found) == len(table(lvsmon_mib.rows(served.state(), served.if_index)))


# -- sources absent, failing, ordering --------------------------------------------------------


def test_absent_or_failing_sources_serve_empty_tables():
    bare = DaemonState(DaemonInfo("0.1.0", 1, T0, T0))
    found = table(mapping.rows(bare, if_index=served.if_index))
    assert set(found) - {oid for oid in found
                         if oid[:len(lvsmon_mib.DEFAULT_BASE)] == lvsmon_mib.DEFAULT_BASE} == {
        KA + (1, 1, 0)}
    assert column(found, LAYOUT.source_entry, 3) == {(i,): ("Integer32", 2) for i in (1, 2, 3, 4)}
    failing = served.state()
    failing = dataclasses.replace(
        failing, participant=failing.participant.failed("no interface eth0", T0 + 20),
        ipvs=failing.ipvs.failed("no IPVS", T0 + 20), vrrp=failing.vrrp.failed("x", T0 + 20),
        snat=failing.snat.failed("gone", T0 + 20))
    found = table(mapping.rows(failing, if_index=served.if_index))
    assert not any(oid[:len(KA) + 1] in (KA + (2,), KA + (3,)) for oid in found)
    assert set(table(vrrpv3_mib.rows(failing, served.if_index))) == set()
    assert not any(oid[:len(LAYOUT.segment_entry)] == LAYOUT.segment_entry for oid in found)
    assert LAYOUT.snat + (1, 0) not in found
    assert found[LAYOUT.source_entry + (5, 2)] == ("OctetString", b"no interface eth0")
    assert found[LAYOUT.source_entry + (6, 2)] == ("OctetString", encode.date_and_time(T0 + 20))


def test_rows_are_unique_and_the_same_for_the_same_state():
    first = list(mapping.rows(served.state(), if_index=served.if_index, router_id="lb1"))
    again = list(mapping.rows(served.state(), if_index=served.if_index, router_id="lb1"))
    assert first == again
    assert len({oid for oid, _, _ in first}) == len(first)


def test_service_order_does_not_depend_on_the_kernels_order():
    state = served.state()
    table_ = state.ipvs.snapshot
    shuffled = dataclasses.replace(table_, services=tuple(reversed(table_.services)))
    other = dataclasses.replace(state, ipvs=dataclasses.replace(state.ipvs, snapshot=shuffled))
    assert table(keepalived_mib.check_rows(state)) == table(keepalived_mib.check_rows(other))


def test_values_fit_their_kinds():
    limits = {"Integer32": (-2**31, 2**31 - 1), "Unsigned32": (0, 2**32 - 1),
              "Gauge32": (0, 2**32 - 1), "Counter32": (0, 2**32 - 1),
              "Counter64": (0, 2**64 - 1), "TimeTicks": (0, 2**32 - 1)}
    for oid, kind, value in mapping.rows(served.state(), if_index=served.if_index,
                                         router_id="lb1"):
        if kind in limits:
            assert type(value) is int and limits[kind][0] <= value <= limits[kind][1], oid
        else:
            assert kind == "OctetString" and isinstance(value, bytes), oid


def test_huge_counters_keep_their_low_bits_in_32_bit_columns():
    big = Counters(2**64 - 1, 2**64 - 1, 0, 0, 0)
    service = VirtualService(ServiceKey("tcp", "inet", "10.0.0.1", 80), "rr", stats=big,
                             rates=big)
    state = DaemonState(DaemonInfo("0.1.0", 1, T0, T0), ipvs=SourceState(
        enabled=True, snapshot=IpvsTable("netlink", T0, (service,))))
    found = table(keepalived_mib.check_rows(state))
    assert found[VS + (27, 1)] == ("Gauge32", 2**32 - 1)
    assert found[VS + (38, 1)] == ("Counter64", 2**64 - 1)
    assert found[VS + (42, 1)] == ("Unsigned32", 2**32 - 1)


def test_dropped_reasons_missing_from_the_model_count_as_none_seen():
    state = served.state()
    web = dataclasses.replace(state.participant.snapshot.instances[0], dropped=FrozenDict())
    state = dataclasses.replace(state, participant=dataclasses.replace(
        state.participant, snapshot=dataclasses.replace(state.participant.snapshot,
                                                        instances=(web,))))
    found = table(vrrpv3_mib.rows(state, served.if_index))
    assert found[STATS + (5, *IDX_WEB)] == ("Counter64", 0)
