"""Typed SNMP values as AgentX carries them (RFC 2741 section 5.4), checked once when built.

    Value.integer32(-5)        Value.octet_string("web")     Value.null()
    Value.counter32(7)         Value.gauge32(3)              Value.time_ticks(100)
    Value.counter64(2**40)     Value.ip_address("10.0.0.1")  Value.opaque(b"\\x9f\\x78\\x04")
    Value.object_identifier("1.3.6.1.4.1.8072")              Value.from_pysnmp(Counter64(9))

The limits (Integer32 -2^31..2^31-1, the unsigned types 0..2^32-1, Counter64
0..2^64-1, octet strings 0..65535 bytes, IpAddress exactly 4) are read from
pysnmp's SMI classes (pysnmp.proto.rfc1902) once at import, so lvsmon and a
pysnmp manager agree on them; checking a Value is then plain int compares,
cheap enough for indexes of tens of thousands of objects. pysnmp objects are
accepted and turned into Values (from_pysnmp) and back (to_pysnmp).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum

from pyasn1.type import constraint
from pysnmp.proto import rfc1902

from lvsmon.errors import AgentxError
from lvsmon_snmp.agentx.oids import Oid, OidError, check_oid, format_oid, parse_oid


class ValueType(IntEnum):
    """v.type codes of an AgentX VarBind (RFC 2741 section 5.4)."""

    INTEGER = 2
    OCTET_STRING = 4
    NULL = 5
    OBJECT_IDENTIFIER = 6
    IP_ADDRESS = 64
    COUNTER32 = 65
    GAUGE32 = 66
    TIME_TICKS = 67
    OPAQUE = 68
    COUNTER64 = 70
    NO_SUCH_OBJECT = 128
    NO_SUCH_INSTANCE = 129
    END_OF_MIB_VIEW = 130


class SnmpValueError(AgentxError, ValueError):
    """A value that does not fit its SNMP type."""


def _bounds(smi_class) -> tuple[int, int]:
    """The (low, high) a pysnmp SMI class allows: value range or size, intersected."""
    low, high = None, None
    for item in smi_class.subtypeSpec:
        if isinstance(item, constraint.ValueRangeConstraint | constraint.ValueSizeConstraint):
            item_low, item_high = item._values  # pyasn1 keeps the two bounds here
            low = item_low if low is None else max(low, item_low)
            high = item_high if high is None else min(high, item_high)
    if low is None or high is None:
        raise RuntimeError(f"pysnmp's {smi_class.__name__} has no range: pysnmp changed")
    return low, high


INTEGER32_RANGE = _bounds(rfc1902.Integer32)
COUNTER32_RANGE = _bounds(rfc1902.Counter32)
GAUGE32_RANGE = _bounds(rfc1902.Gauge32)
TIME_TICKS_RANGE = _bounds(rfc1902.TimeTicks)
COUNTER64_RANGE = _bounds(rfc1902.Counter64)
OCTET_STRING_SIZE = _bounds(rfc1902.OctetString)
IP_ADDRESS_SIZE = _bounds(rfc1902.IpAddress)
OPAQUE_SIZE = OCTET_STRING_SIZE  # pysnmp leaves Opaque open; an octet string in practice

INT_RANGES = {
    ValueType.INTEGER: INTEGER32_RANGE,
    ValueType.COUNTER32: COUNTER32_RANGE,
    ValueType.GAUGE32: GAUGE32_RANGE,
    ValueType.TIME_TICKS: TIME_TICKS_RANGE,
    ValueType.COUNTER64: COUNTER64_RANGE,
}
BYTES_SIZES = {
    ValueType.OCTET_STRING: OCTET_STRING_SIZE,
    ValueType.IP_ADDRESS: IP_ADDRESS_SIZE,
    ValueType.OPAQUE: OPAQUE_SIZE,
}
_EMPTY = frozenset({ValueType.NULL, ValueType.NO_SUCH_OBJECT, ValueType.NO_SUCH_INSTANCE,
                    ValueType.END_OF_MIB_VIEW})  # fmt: skip
EXCEPTIONS = frozenset({ValueType.NO_SUCH_OBJECT, ValueType.NO_SUCH_INSTANCE,
                        ValueType.END_OF_MIB_VIEW})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Value:
    """One SNMP value: `type` and its data (int, bytes, an Oid tuple, or None)."""

    type: ValueType
    data: int | bytes | Oid | None = None

    def __post_init__(self) -> None:
        check_data(self.type, self.data)

    @classmethod
    def checked(cls, kind: ValueType, data) -> Value:
        """A Value of data that check_data() accepted already (no second check: for
        indexes that check a whole table at once and make Values only when asked)."""
        value = object.__new__(cls)
        object.__setattr__(value, "type", kind)
        object.__setattr__(value, "data", data)
        return value

    # -- constructors ---------------------------------------------------------

    @classmethod
    def integer32(cls, number: int) -> Value:
        return cls(ValueType.INTEGER, _as_int(number))

    @classmethod
    def counter32(cls, number: int) -> Value:
        return cls(ValueType.COUNTER32, _as_int(number))

    @classmethod
    def gauge32(cls, number: int) -> Value:
        return cls(ValueType.GAUGE32, _as_int(number))

    @classmethod
    def time_ticks(cls, hundredths: int) -> Value:
        return cls(ValueType.TIME_TICKS, _as_int(hundredths))

    @classmethod
    def counter64(cls, number: int) -> Value:
        return cls(ValueType.COUNTER64, _as_int(number))

    @classmethod
    def octet_string(cls, data: bytes | bytearray | str) -> Value:
        """Bytes as they are; text as UTF-8 (DisplayString is ASCII, a subset)."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return cls(ValueType.OCTET_STRING, raw)

    @classmethod
    def opaque(cls, data: bytes | bytearray) -> Value:
        return cls(ValueType.OPAQUE, bytes(data))

    @classmethod
    def ip_address(cls, address: str | bytes | ipaddress.IPv4Address) -> Value:
        if isinstance(address, bytes | bytearray):
            return cls(ValueType.IP_ADDRESS, bytes(address))
        try:
            packed = ipaddress.IPv4Address(address).packed
        except ValueError as exc:
            raise SnmpValueError(f"IpAddress {address!r}: {exc} (IPv4 only)") from None
        return cls(ValueType.IP_ADDRESS, packed)

    @classmethod
    def object_identifier(cls, oid: str | Oid) -> Value:
        try:
            return cls(ValueType.OBJECT_IDENTIFIER, parse_oid(oid))
        except OidError as exc:
            raise SnmpValueError(str(exc)) from None

    @classmethod
    def null(cls) -> Value:
        return NULL

    # -- pysnmp ---------------------------------------------------------------

    @classmethod
    def from_pysnmp(cls, value) -> Value:
        """A pysnmp / pyasn1 SNMP value (Integer32, OctetString, Counter64 ...) as a Value.

        Matched by ASN.1 tag, as on the wire: what a pysnmp manager receives is often a
        plain pyasn1 type (univ.ObjectIdentifier), not the rfc1902 class."""
        kind = _BY_TAG.get(getattr(value, "tagSet", None))
        if kind is None or not value.isValue:
            raise SnmpValueError(f"no AgentX type for {type(value).__name__} {value!r}")
        if kind in INT_RANGES:
            return cls(kind, int(value))
        if kind is ValueType.OBJECT_IDENTIFIER:
            return cls(kind, tuple(int(part) for part in value))
        if kind is ValueType.NULL:
            return NULL
        return cls(kind, bytes(value.asOctets()))

    def to_pysnmp(self):
        """This value as a pysnmp object (exceptions as pysnmp's noSuch*/endOfMibView)."""
        from pysnmp.proto import rfc1905

        kind = self.type
        if kind is ValueType.NO_SUCH_OBJECT:
            return rfc1905.noSuchObject
        if kind is ValueType.NO_SUCH_INSTANCE:
            return rfc1905.noSuchInstance
        if kind is ValueType.END_OF_MIB_VIEW:
            return rfc1905.endOfMibView
        smi_class = _TO_PYSNMP[kind]
        if kind is ValueType.NULL:
            return smi_class("")
        return smi_class(self.data)

    @property
    def is_exception(self) -> bool:
        """noSuchObject, noSuchInstance or endOfMibView."""
        return self.type in EXCEPTIONS

    def __str__(self) -> str:
        if self.type is ValueType.OBJECT_IDENTIFIER:
            return f"{self.type.name}: {format_oid(self.data)}"
        if self.type is ValueType.IP_ADDRESS:
            return f"{self.type.name}: {ipaddress.IPv4Address(self.data)}"
        if self.data is None:
            return self.type.name
        return f"{self.type.name}: {self.data!r}"


def check_data(kind: ValueType, data) -> None:
    """Raise SnmpValueError unless `data` fits the SNMP type `kind` (see the module
    docstring for the limits)."""
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        if type(data) is not int or not low <= data <= high:
            raise SnmpValueError(f"{kind.name} value {data!r} outside {low}..{high}")
    elif kind in BYTES_SIZES:
        low, high = BYTES_SIZES[kind]
        if type(data) is not bytes or not low <= len(data) <= high:
            size = len(data) if isinstance(data, bytes) else type(data).__name__
            raise SnmpValueError(f"{kind.name} of {size} bytes (allowed {low}..{high})")
    elif kind is ValueType.OBJECT_IDENTIFIER:
        if type(data) is not tuple:
            raise SnmpValueError(f"OBJECT_IDENTIFIER value must be a tuple, not {data!r}")
        check_oid(data)
    elif kind in _EMPTY:
        if data is not None:
            raise SnmpValueError(f"{kind.name} carries no data, got {data!r}")
    else:  # pragma: no cover - ValueType is closed
        raise SnmpValueError(f"unknown value type {kind!r}")


def _as_int(number: int) -> int:
    if isinstance(number, bool) or not isinstance(number, int):
        raise SnmpValueError(f"expected an int, got {number!r}")
    return int(number)


_TO_PYSNMP = {
    ValueType.INTEGER: rfc1902.Integer32,
    ValueType.OCTET_STRING: rfc1902.OctetString,
    ValueType.NULL: rfc1902.Null,
    ValueType.OBJECT_IDENTIFIER: rfc1902.ObjectIdentifier,
    ValueType.IP_ADDRESS: rfc1902.IpAddress,
    ValueType.COUNTER32: rfc1902.Counter32,
    ValueType.GAUGE32: rfc1902.Gauge32,
    ValueType.TIME_TICKS: rfc1902.TimeTicks,
    ValueType.OPAQUE: rfc1902.Opaque,
    ValueType.COUNTER64: rfc1902.Counter64,
}

_BY_TAG = {smi_class.tagSet: kind for kind, smi_class in _TO_PYSNMP.items()}

NULL = Value(ValueType.NULL)
NO_SUCH_OBJECT = Value(ValueType.NO_SUCH_OBJECT)
NO_SUCH_INSTANCE = Value(ValueType.NO_SUCH_INSTANCE)
END_OF_MIB_VIEW = Value(ValueType.END_OF_MIB_VIEW)
