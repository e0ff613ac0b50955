"""How snapshot values become SNMP values and table indexes (RFC 2578 section 7.7).

The mapping modules yield Rows: (oid, kind, value), kind one of lvsmon_snmp.mib.base.KINDS,
value an int, bytes (OctetString), a dotted OID string (ObjectIdentifier) or an address
string (IpAddress). The AgentX side turns each into its Value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

Oid = tuple[int, ...]
Row = tuple[Oid, str, object]
# The caller's interface lookup (a kernel question the mapping never asks itself):
# interface name -> its ifIndex, or None when there is no such interface.
IfIndex = Callable[[str], int | None]

TRUE, FALSE = 1, 2  # TruthValue
IPV4, IPV6 = 1, 2  # InetAddressType
U32 = 0xFFFFFFFF


def truth(flag: bool) -> int:
    return TRUE if flag else FALSE


def inet_type(family: str) -> int:
    """lvsmon's family word ("inet" / "inet6") as an InetAddressType."""
    return IPV6 if family == "inet6" else IPV4


# The same few addresses come back in every rebuild (twice a second): parse each once.
@lru_cache(maxsize=4096)
def octets(address: str) -> bytes:
    """An address as InetAddress octets (4 or 16); a prefix length, if any, dropped."""
    return ipaddress.ip_address(address.split("/")[0]).packed


@lru_cache(maxsize=4096)
def prefix_length(vip: str) -> int:
    """"10.0.0.100/24" -> 24; a bare address is a host route (32 or 128)."""
    return ipaddress.ip_interface(vip).network.prefixlen


def netmask(prefix: int) -> bytes:
    """An IPv4 prefix length as its netmask octets."""
    return ((U32 << (32 - prefix)) & U32).to_bytes(4, "big")


def string_index(data: bytes) -> Oid:
    """A variable-length OCTET STRING index (not IMPLIED): its length, then each octet."""
    return (len(data), *data)


def low32(number: int) -> int:
    return number & U32


def high32(number: int) -> int:
    return (number >> 32) & U32


def gauge32(number: int) -> int:
    """A Gauge32 stays at its maximum instead of wrapping (RFC 2578 section 7.1.7)."""
    return min(max(number, 0), U32)


def date_and_time(seconds: float) -> bytes:
    """Unix time as an 11-octet SNMPv2-TC DateAndTime in UTC (direction '+', offset 0)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return (moment.year.to_bytes(2, "big")
            + bytes((moment.month, moment.day, moment.hour, moment.minute, moment.second,
                     moment.microsecond // 100_000, ord("+"), 0, 0)))  # fmt: skip


def text(value: str) -> bytes:
    """A DisplayString's octets (UTF-8; what lvsmon writes is ASCII), at most 255."""
    data = value.encode("utf-8")
    if len(data) <= 255:
        return data
    return data[:255].decode("utf-8", "ignore").encode("utf-8")  # no character cut in two
