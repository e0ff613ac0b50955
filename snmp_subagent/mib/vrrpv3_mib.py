"""DaemonState -> VRRPV3-MIB (RFC 6527) objects for lvsmon's participant instances.

    rows = list(vrrpv3_mib.rows(state, if_index))

Rows are indexed (ifIndex, VRID, InetAddressType) as the RFC says; the ifIndex comes
from the caller's `if_index(name)` (a kernel lookup the mapping never makes), and an
instance whose interface has no index is left out. Like keepalived's agent (Debian's
build answers for VRRPv2 instances too), every instance with at least one virtual
address has a row, whatever its version.

Values follow keepalived's agent where the RFC leaves room: MasterIpAddr is the
router's own primary address while it is master; Priority is the configured one;
UpTime counts from the instance's start (leaving Initialize) while it is backup or
master, and is 0 otherwise. Where lvsmon and keepalived differ, lvsmon follows the RFC:
the associated address index carries its length (InetAddress is not IMPLIED), where
keepalived puts the bare octets; VirtualMacAddr is the RFC's 00-00-5E-00-01-{VRID},
served only for an instance with vmac = true (without it lvsmon's adverts leave from
the interface's own MAC, which keepalived then shows instead).
"""

from __future__ import annotations

from collections.abc import Iterator

from lvsmon.model.daemon import DaemonState
from lvsmon.model.vrrp import (
    BACKUP,
    FAULT,
    INITIALIZE,
    MASTER,
    MASTER_REASONS,
    InstanceSnapshot,
    StateEvent,
)
from lvsmon_snmp.mib.encode import TRUE, IfIndex, Oid, Row, inet_type, octets, string_index, truth
from lvsmon_snmp.mib.keepalived_mib import participant_instances

VRRPV3 = (1, 3, 6, 1, 2, 1, 207)
OPERATIONS_ENTRY = VRRPV3 + (1, 1, 1, 1)
ASSOCIATED_ENTRY = VRRPV3 + (1, 1, 2, 1)
STATISTICS = VRRPV3 + (1, 2)
STATISTICS_ENTRY = STATISTICS + (5, 1)
NEW_MASTER = VRRPV3 + (0, 1)
PROTO_ERROR = VRRPV3 + (0, 2)

STATUS = {INITIALIZE: 1, BACKUP: 2, MASTER: 3, FAULT: 1}  # initialize, backup, master
ACTIVE = 1  # RowStatus

# vrrpv3StatisticsNewMasterReason <- lvsmon.model.vrrp.MASTER_REASONS
NOT_MASTER, PRIORITY, PREEMPTED, MASTER_NO_RESPONSE = 0, 1, 2, 3
NEW_MASTER_REASONS = dict(zip(MASTER_REASONS, (PRIORITY, PREEMPTED, MASTER_NO_RESPONSE),
                              strict=True))
# vrrpv3StatisticsProtoErrReason <- the participant's drop reasons (noError(0): none yet)
NO_ERROR = 0
PROTO_ERRORS = {"bad_ttl": 1, "version_mismatch": 2, "bad_checksum": 3}
# The participant's drop reasons behind the other error counters.
INVALID_TYPE = ("bad_type",)
PACKET_LENGTH = ("truncated", "bad_length")


def instance_index(instance: InstanceSnapshot, if_index: IfIndex) -> Oid | None:
    """(ifIndex, VRID, InetAddressType) of an instance served here, else None."""
    if not instance.vips:
        return None
    ifindex = if_index(instance.interface)
    if ifindex is None:
        return None
    return (ifindex, instance.vrid, inet_type(instance.family))


def served_instances(state: DaemonState, if_index: IfIndex
                     ) -> Iterator[tuple[Oid, InstanceSnapshot]]:
    for instance in participant_instances(state):
        index = instance_index(instance, if_index)
        if index is not None:
            yield index, instance


def master_address(instance: InstanceSnapshot) -> str | None:
    """The master's primary address: ours while master, else the master last heard."""
    return instance.source if instance.state == MASTER else instance.master


def new_master_reason(instance: InstanceSnapshot) -> int:
    """Why the instance last became master (notMaster(0) while it never was): the address
    owner by its priority, a backup by preempting a lower-priority master or because the
    master fell silent (or released with priority 0)."""
    return NEW_MASTER_REASONS.get(instance.new_master_reason, NOT_MASTER)


def event_master_reason(event: StateEvent) -> int:
    """The reason of one change to master, as vrrpv3NewMaster carries it."""
    return NEW_MASTER_REASONS.get(event.master_reason, MASTER_NO_RESPONSE)


def virtual_mac(vrid: int) -> bytes:
    """RFC 5798 section 7.3: the IPv4 virtual router MAC 00-00-5E-00-01-{VRID}."""
    return bytes((0, 0, 0x5E, 0, 1, vrid))


def up_time(instance: InstanceSnapshot, now: float) -> int | None:
    """Centiseconds since the instance left Initialize, while backup or master; 0 else."""
    if instance.state not in (BACKUP, MASTER):
        return 0
    for event in reversed(instance.events):
        if event.old == INITIALIZE:
            return max(0, round((now - event.time) * 100))
    return None


def rows(state: DaemonState, if_index: IfIndex) -> Iterator[Row]:
    """Every VRRPV3-MIB object lvsmon serves for this state."""
    if not state.participant.available:
        return
    now = state.participant.snapshot.taken_at
    checksum_errors = version_errors = 0
    for index, instance in served_instances(state, if_index):
        yield from _operations(index, instance, now)
        for vip in instance.vips:
            yield ASSOCIATED_ENTRY + (2, *index, *string_index(octets(vip))), "Integer32", ACTIVE
        yield from _statistics(index, instance)
        checksum_errors += instance.dropped.get("bad_checksum", 0)
        version_errors += instance.dropped.get("version_mismatch", 0)
    yield STATISTICS + (1, 0), "Counter64", checksum_errors
    yield STATISTICS + (2, 0), "Counter64", version_errors


def _operations(index: Oid, instance: InstanceSnapshot, now: float) -> Iterator[Row]:
    def column(number: int, kind: str, value: object) -> Row:
        return OPERATIONS_ENTRY + (number, *index), kind, value

    master = master_address(instance)
    if master is not None:
        yield column(3, "OctetString", octets(master))
    if instance.source is not None:
        yield column(4, "OctetString", octets(instance.source))
    if instance.vmac_interface is not None and instance.family == "inet":
        yield column(5, "OctetString", virtual_mac(instance.vrid))
    yield column(6, "Integer32", STATUS[instance.state])
    yield column(7, "Unsigned32", instance.base_priority)
    yield column(8, "Integer32", len(instance.vips))
    yield column(9, "Integer32", instance.advert_interval_centiseconds)
    yield column(10, "Integer32", truth(instance.preempt))
    yield column(11, "Integer32", TRUE)  # accept: the VIPs are ordinary addresses
    ticks = up_time(instance, now)
    if ticks is not None:
        yield column(12, "TimeTicks", ticks)
    yield column(13, "Integer32", ACTIVE)


def _statistics(index: Oid, instance: InstanceSnapshot) -> Iterator[Row]:
    def column(number: int, kind: str, value: object) -> Row:
        return STATISTICS_ENTRY + (number, *index), kind, value

    dropped = instance.dropped
    yield column(1, "Counter32", instance.master_transitions & 0xFFFFFFFF)
    yield column(2, "Integer32", new_master_reason(instance))
    yield column(3, "Counter64", instance.adverts_received)
    # VRRPv3 learns the master's interval (RFC 5798 6.4.2): only VRRPv2 counts mismatches.
    yield column(4, "Counter64", dropped.get("interval_mismatch", 0))
    yield column(5, "Counter64", dropped.get("bad_ttl", 0))
    yield column(6, "Integer32", PROTO_ERRORS.get(instance.last_protocol_error, NO_ERROR))
    yield column(7, "Counter64", instance.priority_zero_received)
    yield column(8, "Counter64", instance.priority_zero_sent)
    yield column(9, "Counter64", sum(dropped.get(reason, 0) for reason in INVALID_TYPE))
    yield column(11, "Counter64", sum(dropped.get(reason, 0) for reason in PACKET_LENGTH))
