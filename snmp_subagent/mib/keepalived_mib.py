"""DaemonState -> KEEPALIVED-MIB objects (mibs/KEEPALIVED-MIB.txt), as keepalived serves them.

    rows = [*global_rows(state, router_id="lb1"),
            *vrrp_rows(state, if_index),      # vrrpInstanceTable, vrrpAddressTable
            *check_rows(state)]               # virtualServerTable, realServerTable

Each yields (oid, kind, value) rows, in no particular order. The semantics follow
keepalived's agent (keepalived/vrrp/vrrp_snmp.c, keepalived/check/check_snmp.c):

- vrrpInstanceIndex is the instance's position (from 1) among lvsmon's participant
  instances; vrrpAddressIndex the virtual address's position in its instance.
- IPVS has no configuration order, so lvsmon fixes one: virtualServerIndex counts
  address services by (family, address, port, protocol), then firewall-mark services
  by (family, mark); realServerIndex counts a service's real servers by (family,
  address, port). The same table always gives the same rows.
- 64-bit counters are served whole (Counter64), and like keepalived also as their low
  32 bits in the older 32-bit columns (StatsConns, StatsInPkts ...), and rates as
  Low/High Unsigned32 halves.
- A value the source cannot know (None in the model) is left out, never served as 0;
  a source that is disabled or failing serves no rows at all.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from lvsmon.model.daemon import DaemonState
from lvsmon.model.ipvs import Counters, RealServer, VirtualService
from lvsmon.model.vrrp import BACKUP, FAULT, INITIALIZE, MASTER, InstanceSnapshot
from lvsmon_snmp.mib.encode import (
    FALSE,
    TRUE,
    IfIndex,
    Oid,
    Row,
    gauge32,
    high32,
    inet_type,
    low32,
    netmask,
    octets,
    prefix_length,
    text,
    truth,
)

KEEPALIVED = (1, 3, 6, 1, 4, 1, 9586, 100, 5)
GLOBAL = KEEPALIVED + (1,)
VERSION = GLOBAL + (1, 0)
ROUTER_ID = GLOBAL + (2, 0)
VRRP_INSTANCE_ENTRY = KEEPALIVED + (2, 3, 1)
VRRP_ADDRESS_ENTRY = KEEPALIVED + (2, 6, 1)
VIRTUAL_SERVER_ENTRY = KEEPALIVED + (3, 3, 1)
REAL_SERVER_ENTRY = KEEPALIVED + (3, 4, 1)
VRRP_INSTANCE_STATE_CHANGE = KEEPALIVED + (2, 10, 0, 2)
REAL_SERVER_STATE_CHANGE = KEEPALIVED + (3, 5, 0, 1)

# VrrpState
VRRP_STATES = {INITIALIZE: 0, BACKUP: 1, MASTER: 2, FAULT: 3}
OWNER_PRIORITY = 255
MULTICAST = {"inet": "224.0.0.18", "inet6": "ff02::12"}

# virtualServerLoadBalancingAlgo; anything else is unknown(99)
SCHEDULERS = {"rr": 1, "wrr": 2, "lc": 3, "wlc": 4, "lblc": 5, "lblcr": 6, "dh": 7, "sh": 8,
              "sed": 9, "nq": 10, "fo": 11, "ovf": 12, "mh": 13, "twos": 14}  # fmt: skip
UNKNOWN_SCHEDULER = 99
PROTOCOLS = {"tcp": 1, "udp": 2, "sctp": 3}
FORWARDING = {"masq": 1, "route": 2, "tunnel": 3}  # nat, dr, tun; local and bypass have none
FWMARK, IP = 1, 2  # virtualServerType
ALIVE, DEAD = 1, 2  # realServerStatus
# The kernel's scheduler flag bits as lvsmon.ipvs names them (sh/mh words or flag-N).
SCHED_FLAG_1 = ("sh-fallback", "mh-fallback", "flag-1")
SCHED_FLAG_2 = ("sh-port", "mh-port", "flag-2")
SCHED_FLAG_3 = ("flag-3",)


# -- global -------------------------------------------------------------------------------


def global_rows(state: DaemonState, router_id: str | None = None) -> Iterator[Row]:
    """version ("lvsmon v<version>") and, when the caller knows it, routerId."""
    yield VERSION, "OctetString", text(f"lvsmon v{state.daemon.version}")
    if router_id:
        yield ROUTER_ID, "OctetString", text(router_id)


# -- VRRP: lvsmon's participant -------------------------------------------------------------


def participant_instances(state: DaemonState) -> tuple[InstanceSnapshot, ...]:
    """The instances served, in row order; none unless the participant source is available."""
    source = state.participant
    return source.snapshot.instances if source.available else ()


def initial_state(instance: InstanceSnapshot) -> int:
    """keepalived's configured state when its config names none, as lvsmon's cannot."""
    return VRRP_STATES[MASTER] if instance.base_priority == OWNER_PRIORITY else (
        VRRP_STATES[BACKUP])


def vrrp_rows(state: DaemonState, if_index: IfIndex) -> Iterator[Row]:
    for row, instance in enumerate(participant_instances(state), 1):
        yield from _instance_rows(row, instance)
        yield from _address_rows(row, instance, if_index)


def _instance_rows(row: int, instance: InstanceSnapshot) -> Iterator[Row]:
    def column(number: int, kind: str, value: object) -> Row:
        return VRRP_INSTANCE_ENTRY + (number, row), kind, value

    current = VRRP_STATES[instance.state]
    interval = instance.advert_interval_centiseconds
    yield column(2, "OctetString", text(instance.name))
    yield column(3, "Unsigned32", instance.vrid)
    yield column(4, "Integer32", current)
    yield column(5, "Integer32", initial_state(instance))
    yield column(6, "Integer32", current)  # lvsmon moves at once: wanted is current
    yield column(7, "Integer32", instance.base_priority)
    yield column(8, "Integer32", instance.priority)
    yield column(9, "Integer32", 1 if instance.state == MASTER else 2)  # allSet / notAllSet
    yield column(10, "OctetString", text(instance.interface))
    yield column(11, "Integer32", 2)  # notTracked: lvsmon follows track commands only
    yield column(12, "Unsigned32", interval // 100 if instance.version == 2 else interval)
    yield column(13, "Integer32", 1 if instance.preempt else 2)  # preempt / noPreempt
    yield column(14, "Unsigned32", int(instance.preempt_delay_seconds))
    yield column(15, "Integer32", auth_type(instance))
    if instance.version == 3:
        yield column(27, "Integer32", TRUE)  # accept: the VIPs are ordinary addresses
    yield column(20, "Integer32", 2)  # smtpAlert disabled: lvsmon sends no mail
    yield column(21, "Integer32", 1 if instance.notify else 2)  # notifyExec enabled / disabled
    if instance.notify:
        yield column(26, "OctetString", text(shlex.join(instance.notify)))
    yield column(28, "Integer32", FALSE)  # promote_secondaries left alone
    yield column(29, "Integer32", FALSE)  # no link polling
    yield column(30, "Integer32", instance.version)
    yield column(33, "Integer32", FALSE)  # no "deleted" notification
    if not instance.unicast_peers:  # keepalived leaves both out for unicast instances
        yield column(34, "Integer32", inet_type(instance.family))
        yield column(35, "OctetString", octets(MULTICAST[instance.family]))


def auth_type(instance: InstanceSnapshot) -> int:
    """vrrpInstanceAuthType: password(1) for a VRRPv2 instance with a password, else none(0)."""
    return 1 if instance.version == 2 and instance.auth_type == "simple" else 0


def vip_interface(instance: InstanceSnapshot) -> str:
    """Where the instance's VIPs live: its interface, or the macvlan of vmac = true."""
    return instance.vmac_interface or instance.interface


def _address_rows(row: int, instance: InstanceSnapshot, if_index: IfIndex) -> Iterator[Row]:
    interface = vip_interface(instance)
    ifindex = if_index(interface)
    for number, vip in enumerate(instance.vips, 1):
        def column(col: int, kind: str, value: object, number: int = number) -> Row:
            return VRRP_ADDRESS_ENTRY + (col, row, number), kind, value

        family = "inet6" if ":" in vip else "inet"
        yield column(2, "Integer32", inet_type(family))
        yield column(3, "OctetString", octets(vip))
        if family == "inet":
            yield column(4, "OctetString", bytes(4))  # no broadcast address is added
        yield column(5, "Unsigned32", prefix_length(vip))
        yield column(6, "Integer32", 14)  # global(14): the kernel's default scope
        if ifindex is not None:
            yield column(7, "Integer32", ifindex)
        yield column(8, "OctetString", text(interface))
        yield column(10, "Integer32", 1 if instance.state == MASTER else 2)  # set / unset
        yield column(11, "Integer32", 1)  # advertised: every lvsmon VIP is in the adverts


# -- check: the IPVS table ----------------------------------------------------------------


def _family_rank(family: str | None) -> int:
    return {"inet": 0, "inet6": 1}.get(family, 2)


def service_order(service: VirtualService) -> tuple:
    key = service.key
    if key.protocol == "fwm":
        return (1, _family_rank(key.family), key.fwmark or 0)
    return (0, _family_rank(key.family), octets(key.address), key.port or 0,
            PROTOCOLS.get(key.protocol, 9))  # fmt: skip


def real_server_order(real_server: RealServer) -> tuple:
    return (_family_rank(real_server.family), octets(real_server.address), real_server.port)


def services(state: DaemonState) -> tuple[VirtualService, ...]:
    """The services served, in virtualServerIndex order; none unless IPVS is available."""
    source = state.ipvs
    if not source.available:
        return ()
    return tuple(sorted(source.snapshot.services, key=service_order))


def real_servers(service: VirtualService) -> tuple[RealServer, ...]:
    return tuple(sorted(service.real_servers, key=real_server_order))


def is_alive(real_server: RealServer) -> bool:
    """Alive as IPVS sees it: a weight above 0 gets new connections."""
    return real_server.weight > 0


def check_rows(state: DaemonState) -> Iterator[Row]:
    netlink = state.ipvs.available and state.ipvs.snapshot.source == "netlink"
    for row, service in enumerate(services(state), 1):
        yield from _service_rows(row, service, netlink)
        for number, real_server in enumerate(real_servers(service), 1):
            yield from _real_server_rows((row, number), real_server)


def _service_rows(row: int, service: VirtualService, scheduler_flags: bool) -> Iterator[Row]:
    def column(number: int, kind: str, value: object) -> Row:
        return VIRTUAL_SERVER_ENTRY + (number, row), kind, value

    key = service.key
    if key.protocol == "fwm":
        yield column(2, "Integer32", FWMARK)
        yield column(4, "Unsigned32", key.fwmark)
    else:
        yield column(2, "Integer32", IP)
        yield column(6, "OctetString", octets(key.address))
        yield column(7, "Unsigned32", key.port)
        yield column(8, "Integer32", PROTOCOLS[key.protocol])
    if key.family is not None:
        yield column(5, "Integer32", inet_type(key.family))
    yield column(9, "Integer32", SCHEDULERS.get(service.scheduler, UNKNOWN_SCHEDULER))
    persistent = "persistent" in service.flags or service.persistence_timeout_seconds is not None
    yield column(13, "Integer32", 1 if persistent else 2)  # enabled / disabled
    if persistent and service.persistence_timeout_seconds is not None:
        yield column(14, "Unsigned32", service.persistence_timeout_seconds)
    prefix = service.persistence_prefix_length
    if persistent and prefix is not None:
        if key.family == "inet":
            yield column(15, "OctetString", netmask(prefix))
        elif key.family == "inet6":
            yield column(51, "Unsigned32", prefix)
    yield column(20, "Unsigned32", len(service.real_servers))
    yield column(21, "Unsigned32", sum(1 for rs in service.real_servers if is_alive(rs)))
    yield column(37, "Integer32", truth("onepacket" in service.flags))
    if scheduler_flags:  # procfs does not show them
        flags = service.flags
        yield column(53, "Integer32", truth(any(name in flags for name in SCHED_FLAG_1)))
        yield column(54, "Integer32", truth(any(name in flags for name in SCHED_FLAG_2)))
        yield column(55, "Integer32", truth(any(name in flags for name in SCHED_FLAG_3)))
        yield column(62, "Integer32", truth(any(name in flags for name in SCHED_FLAG_1)))
        yield column(63, "Integer32", truth(any(name in flags for name in SCHED_FLAG_2)))
    yield from _counter_rows(VIRTUAL_SERVER_ENTRY, (row,), service.stats, service.rates,
                             VIRTUAL_SERVER_COLUMNS)


def _real_server_rows(index: Oid, real_server: RealServer) -> Iterator[Row]:
    def column(number: int, kind: str, value: object) -> Row:
        return REAL_SERVER_ENTRY + (number, *index), kind, value

    yield column(3, "Integer32", inet_type(real_server.family))
    yield column(4, "OctetString", octets(real_server.address))
    yield column(5, "Unsigned32", real_server.port)
    yield column(6, "Integer32", ALIVE if is_alive(real_server) else DEAD)
    yield column(7, "Integer32", real_server.weight)
    if real_server.upper_threshold:  # 0 is "no limit": keepalived leaves it out too
        yield column(8, "Unsigned32", real_server.upper_threshold)
    if real_server.lower_threshold:
        yield column(9, "Unsigned32", real_server.lower_threshold)
    yield column(15, "Gauge32", gauge32(real_server.active_connections))
    yield column(16, "Gauge32", gauge32(real_server.inactive_connections))
    if real_server.persistent_connections is not None:
        yield column(17, "Gauge32", gauge32(real_server.persistent_connections))
    if real_server.forward in FORWARDING:
        yield column(40, "Integer32", FORWARDING[real_server.forward])
    yield from _counter_rows(REAL_SERVER_ENTRY, index, real_server.stats, real_server.rates,
                             REAL_SERVER_COLUMNS)


# Column numbers of the counter groups, per table:
# (conns32, inpkts32, outpkts32, inbytes64, outbytes64, first rate32, conns64..outpkts64 start,
#  first rate Low, first rate64)
VIRTUAL_SERVER_COLUMNS = (27, 28, 29, 30, 31, 32, 38, 41, 74)
REAL_SERVER_COLUMNS = (14, 18, 19, 20, 21, 22, 27, 30, 58)


def _counter_rows(entry: Oid, index: Oid, stats: Counters, rates: Counters,
                  columns: tuple[int, ...]) -> Iterator[Row]:
    conns, inpkts, outpkts, inbytes, outbytes, rate32, count64, rate_low, rate64 = columns

    def column(number: int, kind: str, value: object) -> Row:
        return entry + (number, *index), kind, value

    if stats.connections is not None:
        yield column(conns, "Gauge32", low32(stats.connections))
        yield column(count64, "Counter64", stats.connections)
    if stats.packets_in is not None:
        yield column(inpkts, "Counter32", low32(stats.packets_in))
        yield column(count64 + 1, "Counter64", stats.packets_in)
    if stats.packets_out is not None:
        yield column(outpkts, "Counter32", low32(stats.packets_out))
        yield column(count64 + 2, "Counter64", stats.packets_out)
    if stats.bytes_in is not None:
        yield column(inbytes, "Counter64", stats.bytes_in)
    if stats.bytes_out is not None:
        yield column(outbytes, "Counter64", stats.bytes_out)
    for position, value in enumerate(rates.values()):  # cps, inpps, outpps, inbps, outbps
        if value is None:
            continue
        yield column(rate32 + position, "Gauge32", low32(value))
        yield column(rate_low + 2 * position, "Unsigned32", low32(value))
        yield column(rate_low + 2 * position + 1, "Unsigned32", high32(value))
        yield column(rate64 + position, "Counter64", value)


def rows(state: DaemonState, *, if_index: IfIndex, router_id: str | None = None
         ) -> Iterator[Row]:
    """Every KEEPALIVED-MIB object lvsmon serves for this state."""
    yield from global_rows(state, router_id)
    yield from vrrp_rows(state, if_index)
    yield from check_rows(state)
