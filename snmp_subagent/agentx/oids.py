"""Object identifiers as tuples of ints: parsing, printing, and the few well-known ones.

A tuple compares the way SNMP orders OIDs (lexicographically, a prefix first), so
sorted() and bisect work on them directly.
"""

from __future__ import annotations

from collections.abc import Iterable

from lvsmon.errors import AgentxError

Oid = tuple[int, ...]

MAX_SUBIDS = 128  # SMI (RFC 2578 section 3.5) and AgentX both stop at 128 sub-identifiers
MAX_SUBID = 0xFFFFFFFF

INTERNET: Oid = (1, 3, 6, 1)  # the prefix AgentX compresses (RFC 2741 section 5.1)
SYS_UPTIME_0: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)  # SNMPv2-MIB::sysUpTime.0
SNMP_TRAP_OID_0: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)  # SNMPv2-MIB::snmpTrapOID.0


class OidError(AgentxError, ValueError):
    """Text or numbers that are not an object identifier."""


def parse_oid(value: str | Iterable[int]) -> Oid:
    """"1.3.6.1.4.1.8072" (a leading dot allowed) or a sequence of ints -> checked tuple."""
    if isinstance(value, str):
        text = value.strip().removeprefix(".")
        if not text:
            raise OidError(f"empty object identifier {value!r}")
        try:
            parts = tuple(int(part, 10) for part in text.split("."))
        except ValueError:
            raise OidError(f"{value!r} is not a dotted object identifier "
                           "(numbers only, e.g. 1.3.6.1.4.1.8072)") from None
    else:
        parts = tuple(value)
        if not all(type(part) is int for part in parts):
            raise OidError(f"object identifier {value!r}: sub-identifiers must be ints")
    return check_oid(parts)


def check_oid(oid: Oid) -> Oid:
    """Raise OidError unless `oid` has 1..128 sub-identifiers, each 0..2^32-1."""
    if not 0 < len(oid) <= MAX_SUBIDS:
        raise OidError(f"object identifier of {len(oid)} sub-identifiers "
                       f"(1..{MAX_SUBIDS} allowed)")
    for part in oid:
        if not 0 <= part <= MAX_SUBID:
            raise OidError(f"sub-identifier {part} of {format_oid(oid)} out of range 0..2^32-1")
    return oid


def format_oid(oid: Oid) -> str:
    return ".".join(map(str, oid))


def is_prefix(prefix: Oid, oid: Oid) -> bool:
    """True if `oid` is `prefix` or lies under it."""
    return oid[: len(prefix)] == prefix
