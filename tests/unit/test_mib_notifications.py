"""Notification varbind lists built from an old and a new DaemonState."""

from __future__ import annotations

import dataclasses

from lvsmon.model.daemon import DaemonInfo, DaemonState
from lvsmon.model.vrrp import StateEvent
from lvsmon_snmp.mib import encode, keepalived_mib, lvsmon_mib, notifications, served, vrrpv3_mib
from lvsmon_snmp.mib.check import check_served, load
from lvsmon_snmp.mib.served import T0
from tests.unit.test_mib_check import OURS

KA = keepalived_mib.KEEPALIVED
LAYOUT = lvsmon_mib.Layout()


def notes(old: DaemonState, new: DaemonState, **kwargs) -> list:
    return notifications.notifications(old, new, if_index=served.if_index, router_id="lb1",
                                       **kwargs)


def by_name(found: list, name: str) -> list:
    return [note for note in found if note.name == name]


def test_a_state_change_sends_keepalived_s_and_rfc6527_s_notifications():
    found = notes(served.state(), served.later_state())
    [change] = by_name(found, "vrrpInstanceStateChange")
    assert change.trap == KA + (2, 10, 0, 2)
    assert change.varbinds == (
        (keepalived_mib.VRRP_INSTANCE_ENTRY + (2, 2), "OctetString", b"legacy"),
        (keepalived_mib.VRRP_INSTANCE_ENTRY + (4, 2), "Integer32", 2),
        (keepalived_mib.VRRP_INSTANCE_ENTRY + (5, 2), "Integer32", 1),
        (KA + (1, 2, 0), "OctetString", b"lb1"))
    [new_master] = by_name(found, "vrrpv3NewMaster")
    assert new_master.trap == (1, 3, 6, 1, 2, 1, 207, 0, 1)
    assert new_master.varbinds == (
        (vrrpv3_mib.OPERATIONS_ENTRY + (3, 2, 52, 1), "OctetString", bytes([10, 0, 0, 11])),
        (vrrpv3_mib.STATISTICS_ENTRY + (2, 2, 52, 1), "Integer32", 3))


def test_every_event_is_a_notification_even_several_between_two_states():
    old = served.state()
    web = old.participant.snapshot.instances[0]
    moved = dataclasses.replace(web, transitions=4, events=(
        *web.events, StateEvent(T0 + 11, "MASTER", "BACKUP", "higher priority", 150),
        StateEvent(T0 + 12, "BACKUP", "MASTER", "master down interval expired", 150)))
    new = dataclasses.replace(old, participant=dataclasses.replace(
        old.participant, snapshot=dataclasses.replace(
            old.participant.snapshot, instances=(moved, *old.participant.snapshot.instances[1:]))))
    changes = by_name(notes(old, new), "vrrpInstanceStateChange")
    assert [note.varbinds[1][2] for note in changes] == [1, 2]


def test_at_start_every_instance_reports_its_startup():
    bare = DaemonState(DaemonInfo("0.1.0", 1, T0, T0))
    changes = by_name(notes(bare, served.state()), "vrrpInstanceStateChange")
    assert [(note.varbinds[0][2], note.varbinds[1][2]) for note in changes] == [
        (b"web", 1), (b"web", 2), (b"legacy", 1), (b"v6", 2)]
    owner = [note for note in by_name(notes(bare, served.state()), "vrrpv3NewMaster")
             if note.varbinds[0][0][-3:] == (3, 53, 2)]
    assert owner[0].varbinds[1][2] == vrrpv3_mib.PRIORITY


def test_protocol_errors_that_grew_are_notified():
    found = notes(served.later_state(), served.state())
    errors = sorted(note.varbinds[0][2] for note in by_name(found, "vrrpv3ProtoError"))
    assert errors == [1, 2, 3]  # legacy's ttl (1 -> 2), version (0 -> 3), checksum (0 -> 1)
    assert all(note.varbinds[0][0][:-3] == vrrpv3_mib.STATISTICS_ENTRY + (6,)
               for note in by_name(found, "vrrpv3ProtoError"))


def test_real_servers_removed_set_to_weight_zero_and_back():
    vs, rs = keepalived_mib.VIRTUAL_SERVER_ENTRY, keepalived_mib.REAL_SERVER_ENTRY
    found = by_name(notes(served.state(), served.later_state()), "realServerStateChange")
    removed, revived = sorted(found, key=lambda note: note.varbinds[0][0][-2:], reverse=True)
    # fd00::2 of udp [fd00::100]:53 (service row 2) is gone: dead, with its old rows
    assert removed.trap == KA + (3, 5, 0, 1)
    assert removed.varbinds == (
        (rs + (3, 2, 1), "Integer32", 2),
        (rs + (4, 2, 1), "OctetString", encode.octets("fd00::2")),
        (rs + (5, 2, 1), "Unsigned32", 53),
        (rs + (6, 2, 1), "Integer32", 2),
        (vs + (2, 2), "Integer32", 2), (vs + (5, 2), "Integer32", 2),
        (vs + (6, 2), "OctetString", encode.octets("fd00::100")),
        (vs + (7, 2), "Unsigned32", 53), (vs + (8, 2), "Integer32", 2),
        (vs + (21, 2), "Unsigned32", 1), (vs + (20, 2), "Unsigned32", 1),
        (KA + (1, 2, 0), "OctetString", b"lb1"))
    # 10.0.1.3 went from weight 0 to 2: alive
    assert revived.varbinds[1] == (rs + (4, 1, 2), "OctetString", bytes([10, 0, 1, 3]))
    assert revived.varbinds[3] == (rs + (6, 1, 2), "Integer32", 1)
    assert revived.varbinds[9:11] == ((vs + (21, 1), "Unsigned32", 2),
                                      (vs + (20, 1), "Unsigned32", 2))
    back = by_name(notes(served.later_state(), served.state()), "realServerStateChange")
    assert sorted(note.varbinds[3][2] for note in back) == [1, 2]  # fd00::2 added; .3 to 0


def test_a_firewall_mark_service_is_named_by_its_mark():
    old, new = served.state(), served.later_state()
    mark = new.ipvs.snapshot.services[0]
    gone = dataclasses.replace(mark, real_servers=())
    new = dataclasses.replace(new, ipvs=dataclasses.replace(new.ipvs, snapshot=dataclasses.replace(
        new.ipvs.snapshot, services=(gone, *new.ipvs.snapshot.services[1:]))))
    [note] = [n for n in by_name(notes(old, new), "realServerStateChange")
              if n.varbinds[4][2] == keepalived_mib.FWMARK]
    vs = keepalived_mib.VIRTUAL_SERVER_ENTRY
    assert note.varbinds[4:7] == ((vs + (2, 2), "Integer32", 1), (vs + (4, 2), "Unsigned32", 7),
                                  (vs + (21, 2), "Unsigned32", 0))


def test_no_ipvs_notification_without_both_tables():
    bare = DaemonState(DaemonInfo("0.1.0", 1, T0, T0))
    assert by_name(notes(bare, served.state()), "realServerStateChange") == []


def test_split_brain_and_no_master_start_and_end():
    seg = (2, 51, 1)
    interface = (LAYOUT.segment_entry + (4, *seg), "OctetString", b"eth0")
    found = notes(served.state(), served.later_state())
    [end] = by_name(found, "lvsmonSplitBrainEnd")
    assert end.trap == lvsmon_mib.DEFAULT_BASE + (0, 2)
    assert end.varbinds == (
        interface, (LAYOUT.notify + (1, 0), "OctetString", b"10.0.0.11,10.0.0.13"),
        (LAYOUT.notify + (3, 0), "OctetString", encode.date_and_time(T0 + 5)),
        (LAYOUT.notify + (4, 0), "OctetString", encode.date_and_time(T0 + 11)))
    [no_master] = by_name(found, "lvsmonNoMaster")
    assert no_master.trap == lvsmon_mib.DEFAULT_BASE + (0, 3)
    assert no_master.varbinds[0] == interface
    assert no_master.varbinds[3] == (LAYOUT.notify + (3, 0), "OctetString",
                                     encode.date_and_time(T0 + 11.5))
    back = notes(served.later_state(), served.state())
    [start] = by_name(back, "lvsmonSplitBrain")
    assert start.trap == lvsmon_mib.DEFAULT_BASE + (0, 1)
    assert start.varbinds[2] == (LAYOUT.notify + (2, 0), "OctetString", b"2 routers advertising")
    [found_master] = by_name(back, "lvsmonNoMasterEnd")
    assert found_master.varbinds[1] == (LAYOUT.segment_entry + (5, *seg), "OctetString",
                                        bytes([10, 0, 0, 11]))


def test_sources_down_and_back_up():
    [down] = by_name(notes(served.state(), served.later_state()), "lvsmonSourceDown")
    assert down.varbinds == (
        (LAYOUT.source_entry + (2, 4), "OctetString", b"snat"),
        (LAYOUT.source_entry + (5, 4), "OctetString", b"status file missing"),
        (LAYOUT.source_entry + (6, 4), "OctetString", encode.date_and_time(T0 + 12)))
    recovered = served.later_state()
    recovered = dataclasses.replace(recovered, snat=recovered.snat.succeeded(
        served.state().snat.snapshot, T0 + 13))
    [up] = by_name(notes(served.later_state(), recovered), "lvsmonSourceUp")
    assert up.trap == lvsmon_mib.DEFAULT_BASE + (0, 6)
    assert up.varbinds[1] == (LAYOUT.source_entry + (7, 4), "OctetString",
                              encode.date_and_time(T0 + 13))
    assert by_name(notes(served.state(), served.state()), "lvsmonSourceUp") == []


def test_nothing_changed_nothing_sent():
    assert notes(served.state(), served.state()) == []


def test_the_trap_oid_comes_first_for_the_engine():
    note = by_name(notes(served.state(), served.later_state()), "lvsmonSourceDown")[0]
    first = note.varbinds_with_trap_oid()[0]
    assert first == ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), "ObjectIdentifier",
                     ".".join(map(str, lvsmon_mib.DEFAULT_BASE + (0, 5))))


def test_every_varbind_is_an_object_its_notification_lists():
    mibs = load(OURS)
    for old, new in ((served.state(), served.later_state()),
                     (served.later_state(), served.state())):
        for note in notes(old, new):
            found = mibs.by_oid[note.trap]
            listed = set(found[1].members)
            for oid, _kind, _value in note.varbinds:
                module, definition, _suffix = mibs.object_at(oid)
                assert definition.name in listed | {"vrrpv3OperationsMasterIpAddr"} or (
                    note.name == "realServerStateChange"
                    and definition.name.startswith("virtualServer")), (note.name, oid)
            assert check_served(mibs, [(oid, kind) for oid, kind, _ in note.varbinds],
                                notify=True) == []
