"""Notifications from two successive DaemonStates, ready for the AgentX engine's notify().

    for note in notifications(old, new, if_index=if_index, router_id="lb1", base=base):
        await subagent.notify(note.varbinds_with_trap_oid())

- vrrpInstanceStateChange (KEEPALIVED-MIB) for every state change of a participant
  instance (one per StateEvent, so none is lost between two snapshots), and RFC 6527's
  vrrpv3NewMaster for each change to master; vrrpv3ProtoError when an instance's count
  of TTL, version or checksum errors grew.
- realServerStateChange (KEEPALIVED-MIB) when a real server is added or removed, or its
  weight crosses 0 (alive above 0, dead at 0, as realServerStatus says).
- LVSMON-MIB: split brain and no master, each start and end; a source down and back up.

A notification needs both states to know what changed: nothing is sent for a source that
was not available before (at start-up, after a failure), except the source's own "up".
Varbinds carry the instance OIDs of the objects (column + row index), as SMIv2 wants;
keepalived's own agent sends the bare column OIDs instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lvsmon.model.daemon import DaemonState, SourceState
from lvsmon.model.ipvs import RealServer, VirtualService
from lvsmon.model.vrrp import MASTER, NO_MASTER, SPLIT_BRAIN, InstanceSnapshot, SegmentView
from lvsmon_snmp.mib import keepalived_mib as ka
from lvsmon_snmp.mib import lvsmon_mib as lv
from lvsmon_snmp.mib import vrrpv3_mib as v3
from lvsmon_snmp.mib.encode import IfIndex, Oid, Row, date_and_time, inet_type, octets, text

SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)  # snmpTrapOID.0 (SNMPv2-MIB)


@dataclass(frozen=True, slots=True)
class Notification:
    name: str  # the NOTIFICATION-TYPE's name, for logs
    trap: Oid
    varbinds: tuple[Row, ...]

    def varbinds_with_trap_oid(self) -> tuple[Row, ...]:
        """snmpTrapOID.0 first, then the objects: what an AgentX Notify PDU carries."""
        trap = ".".join(str(part) for part in self.trap)
        return ((SNMP_TRAP_OID, "ObjectIdentifier", trap), *self.varbinds)


def notifications(old: DaemonState, new: DaemonState, *, if_index: IfIndex,
                  router_id: str | None = None, base: Oid = lv.DEFAULT_BASE
                  ) -> list[Notification]:
    return [*participant_notifications(old, new, if_index=if_index, router_id=router_id),
            *real_server_notifications(old, new, router_id=router_id),
            *segment_notifications(old, new, if_index=if_index, base=base),
            *source_notifications(old, new, base=base)]  # fmt: skip


def _router_id(router_id: str | None) -> tuple[Row, ...]:
    return ((ka.ROUTER_ID, "OctetString", text(router_id)),) if router_id else ()


# -- the participant --------------------------------------------------------------------


def participant_notifications(old: DaemonState, new: DaemonState, *, if_index: IfIndex,
                              router_id: str | None = None) -> Iterator[Notification]:
    before = {instance.name: instance for instance in ka.participant_instances(old)}
    for row, instance in enumerate(ka.participant_instances(new), 1):
        previous = before.get(instance.name)
        if previous is not None and (previous.events, previous.dropped) == (
                instance.events, instance.dropped):
            continue  # the usual publish: nothing to tell, and nothing worth computing
        seen = set(previous.events) if previous is not None else set()
        index = v3.instance_index(instance, if_index)
        for event in instance.events:
            if event in seen:
                continue
            yield Notification("vrrpInstanceStateChange", ka.VRRP_INSTANCE_STATE_CHANGE, (
                (ka.VRRP_INSTANCE_ENTRY + (2, row), "OctetString", text(instance.name)),
                (ka.VRRP_INSTANCE_ENTRY + (4, row), "Integer32", ka.VRRP_STATES[event.new]),
                (ka.VRRP_INSTANCE_ENTRY + (5, row), "Integer32", ka.initial_state(instance)),
                *_router_id(router_id)))
            if event.new == MASTER and index is not None and instance.source is not None:
                yield Notification("vrrpv3NewMaster", v3.NEW_MASTER, (
                    (v3.OPERATIONS_ENTRY + (3, *index), "OctetString", octets(instance.source)),
                    (v3.STATISTICS_ENTRY + (2, *index), "Integer32",
                     v3.event_master_reason(event))))
        if previous is not None and index is not None:
            yield from _proto_errors(previous, instance, index)


def _proto_errors(previous: InstanceSnapshot, instance: InstanceSnapshot,
                  index: Oid) -> Iterator[Notification]:
    for reason, code in v3.PROTO_ERRORS.items():
        if instance.dropped.get(reason, 0) > previous.dropped.get(reason, 0):
            yield Notification("vrrpv3ProtoError", v3.PROTO_ERROR, (
                (v3.STATISTICS_ENTRY + (6, *index), "Integer32", code),))


# -- IPVS real servers -------------------------------------------------------------------


def real_server_notifications(old: DaemonState, new: DaemonState, *,
                              router_id: str | None = None) -> Iterator[Notification]:
    if not (old.ipvs.available and new.ipvs.available):
        return
    changed = _changed_services(old.ipvs.snapshot.services, new.ipvs.snapshot.services)
    if not changed:  # the usual case, found without sorting anything: no notification
        return
    old_services = {service.key: (row, service) for row, service in
                    enumerate(ka.services(old), 1)}  # fmt: skip
    new_services = {service.key: (row, service) for row, service in
                    enumerate(ka.services(new), 1)}  # fmt: skip
    for key in sorted(changed, key=str):
        old_row, old_service = old_services.get(key, (None, None))
        new_row, new_service = new_services.get(key, (None, None))
        before = _numbered(old_service)
        after = _numbered(new_service)
        service_row, service = (new_row, new_service) if new_service else (old_row, old_service)
        for endpoint in sorted(before.keys() | after.keys()):
            was, now = before.get(endpoint), after.get(endpoint)
            if now is not None:
                changed = was is None or ka.is_alive(was[1]) != ka.is_alive(now[1])
                if changed:
                    yield _real_server_note(service_row, service, now, True, router_id)
            elif was is not None:
                yield _real_server_note(service_row, service, was, False, router_id)


def _changed_services(old: tuple[VirtualService, ...], new: tuple[VirtualService, ...]
                      ) -> set:
    """Keys of the services whose real servers came, went or crossed weight 0: one pass
    over both tables (an IPVS read of 10,000 real servers must not hold up the loop)."""
    def alive(services) -> dict:
        return {service.key: {(rs.address, rs.port): rs.weight > 0
                              for rs in service.real_servers} for service in services}

    before, after = alive(old), alive(new)
    return {key for key in before.keys() | after.keys()
            if before.get(key, {}) != after.get(key, {})}  # fmt: skip


def _numbered(service: VirtualService | None) -> dict[tuple, tuple[int, RealServer]]:
    if service is None:
        return {}
    return {(rs.address, rs.port): (number, rs)
            for number, rs in enumerate(ka.real_servers(service), 1)}  # fmt: skip


def _real_server_note(service_row: int, service: VirtualService,
                      numbered: tuple[int, RealServer], present: bool,
                      router_id: str | None) -> Notification:
    number, real_server = numbered
    rs_index = (service_row, number)
    alive = present and ka.is_alive(real_server)
    key = service.key

    def vs(column: int, kind: str, value: object) -> Row:
        return ka.VIRTUAL_SERVER_ENTRY + (column, service_row), kind, value

    def rs(column: int, kind: str, value: object) -> Row:
        return ka.REAL_SERVER_ENTRY + (column, *rs_index), kind, value

    varbinds = [rs(3, "Integer32", inet_type(real_server.family)),
                rs(4, "OctetString", octets(real_server.address)),
                rs(5, "Unsigned32", real_server.port),
                rs(6, "Integer32", ka.ALIVE if alive else ka.DEAD)]
    if key.protocol == "fwm":
        varbinds += [vs(2, "Integer32", ka.FWMARK), vs(4, "Unsigned32", key.fwmark)]
    else:
        varbinds += [vs(2, "Integer32", ka.IP), vs(5, "Integer32", inet_type(key.family)),
                     vs(6, "OctetString", octets(key.address)), vs(7, "Unsigned32", key.port),
                     vs(8, "Integer32", ka.PROTOCOLS[key.protocol])]
    varbinds += [vs(21, "Unsigned32", sum(1 for r in service.real_servers if ka.is_alive(r))),
                 vs(20, "Unsigned32", len(service.real_servers)),
                 *_router_id(router_id)]
    return Notification("realServerStateChange", ka.REAL_SERVER_STATE_CHANGE, tuple(varbinds))


# -- LVSMON-MIB: segments and sources -----------------------------------------------------


def segment_notifications(old: DaemonState, new: DaemonState, *, if_index: IfIndex,
                          base: Oid = lv.DEFAULT_BASE) -> Iterator[Notification]:
    if not (old.vrrp.available and new.vrrp.available):
        return
    layout = lv.Layout(base)
    before = {view.key: view for view in old.vrrp.snapshot.segments}
    for view in new.vrrp.snapshot.segments:
        previous = before.get(view.key)
        if previous is None or not (previous.active_anomalies or view.active_anomalies):
            continue  # the usual publish: no anomaly began, lasted or ended
        index = lv.segment_index(view, if_index)
        if index is None:
            continue
        for name, start_number, end_number in ((SPLIT_BRAIN, lv.SPLIT_BRAIN, lv.SPLIT_BRAIN_END),
                                               (NO_MASTER, lv.NO_MASTER, lv.NO_MASTER_END)):
            yield from _anomaly_changes(previous, view, name, start_number, end_number,
                                        index, layout, new.vrrp.snapshot.taken_at)


def _anomaly_changes(previous: SegmentView, view: SegmentView, name: str, start_number: int,
                     end_number: int, index: Oid, layout: lv.Layout, now: float
                     ) -> Iterator[Notification]:
    was = {(a.start, a.routers): a for a in previous.active_anomalies if a.name == name}
    now_active = {(a.start, a.routers): a for a in view.active_anomalies if a.name == name}
    ended = {(a.start, a.routers): a for a in view.anomaly_history
             if a.name == name and not a.active}  # fmt: skip
    interface = (layout.segment_entry + (4, *index), "OctetString", text(view.interface))
    notify = layout.notify
    for key, anomaly in now_active.items():
        if key in was:
            continue
        yield Notification(f"lvsmon{_words(name)}", layout.notification(start_number), (
            interface,
            (notify + (1, 0), "OctetString", text(",".join(anomaly.routers))),
            (notify + (2, 0), "OctetString", text(anomaly.detail)),
            (notify + (3, 0), "OctetString", date_and_time(anomaly.start))))
    for key, anomaly in was.items():
        if key in now_active:
            continue
        end = ended[key].end if key in ended else now
        varbinds = [interface]
        if end_number == lv.NO_MASTER_END and view.master is not None:
            varbinds.append((layout.segment_entry + (5, *index), "OctetString",
                             octets(view.master)))
        else:
            varbinds.append((notify + (1, 0), "OctetString", text(",".join(anomaly.routers))))
        varbinds += [(notify + (3, 0), "OctetString", date_and_time(anomaly.start)),
                     (notify + (4, 0), "OctetString", date_and_time(end))]
        yield Notification(f"lvsmon{_words(name)}End", layout.notification(end_number),
                           tuple(varbinds))


def _words(name: str) -> str:
    """split_brain -> SplitBrain"""
    return "".join(part.capitalize() for part in name.split("_"))


def source_notifications(old: DaemonState, new: DaemonState, *,
                         base: Oid = lv.DEFAULT_BASE) -> Iterator[Notification]:
    layout = lv.Layout(base)
    for row, name in lv.SOURCES:
        was: SourceState = getattr(old, name)
        now: SourceState = getattr(new, name)
        if not (was.enabled and now.enabled):
            continue

        def column(number: int, kind: str, value: object, row: int = row) -> Row:
            return layout.source_entry + (number, row), kind, value

        if was.available and now.error is not None:
            varbinds = [column(2, "OctetString", text(name)),
                        column(5, "OctetString", text(now.error))]
            if now.error_since is not None:
                varbinds.append(column(6, "OctetString", date_and_time(now.error_since)))
            yield Notification("lvsmonSourceDown", layout.notification(lv.SOURCE_DOWN),
                               tuple(varbinds))
        elif was.error is not None and now.available and now.last_success is not None:
            yield Notification("lvsmonSourceUp", layout.notification(lv.SOURCE_UP), (
                column(2, "OctetString", text(name)),
                column(7, "OctetString", date_and_time(now.last_success))))
