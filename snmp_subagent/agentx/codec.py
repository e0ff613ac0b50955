"""AgentX PDUs (RFC 2741 section 6): dataclasses, encoding, strict decoding, stream framing.

    data = encode(GetNext(ranges=(SearchRange((1, 3, 6, 1, 2), include=True),),
                          session_id=7, packet_id=1))
    pdu = decode(data)                       # one whole PDU -> GetNext(...)
    framer = Framer(); framer.feed(chunk)    # a byte stream, PDUs split across reads
    while (pdu := framer.next_pdu()) is not None: ...

Every PDU type is here: Open, Close, Register, Unregister, Get, GetNext, GetBulk,
TestSet, CommitSet, UndoSet, CleanupSet, Notify, Ping, IndexAllocate,
IndexDeallocate, AddAgentCaps, RemoveAgentCaps and Response. A PDU carries the
header's session, transaction and packet ids; the header's flags become fields
(`context` for NON_DEFAULT_CONTEXT, `instance` for INSTANCE_REGISTRATION,
`new_index` / `any_index`). Byte order is not a property of a PDU: decoding
honours the sender's NETWORK_BYTE_ORDER flag, encoding uses network order
unless told otherwise.

OIDs are tuples of ints; the null OID is (). Outgoing OIDs under 1.3.6.1.X
(0 < X < 256) are sent with the prefix compressed (section 5.1). A SearchRange
with end () has no upper bound. An OBJECT IDENTIFIER value sent as the null
OID decodes as 0.0, as net-snmp reads it.

Decoding is bounded whatever the bytes say: a payload over MAX_PAYLOAD is
refused from its header alone, every length and count is checked against the
bytes actually present before anything is allocated, and OIDs stop at 128
sub-identifiers. Anything unusable raises AgentxDecodeError with `reason` one of
DECODE_REASONS; nothing else is ever raised.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, NamedTuple

from lvsmon.errors import AgentxError
from lvsmon_snmp.agentx.oids import MAX_SUBIDS, Oid
from lvsmon_snmp.agentx.values import SnmpValueError, Value, ValueType

AGENTX_VERSION = 1
HEADER_SIZE = 20
# A master's requests are small (an SNMP message is at most 64 KiB, and net-snmp
# sends a GetNext per repetition of a GetBulk); 1 MiB leaves room for big TestSets.
MAX_PAYLOAD = 1024 * 1024
# No SNMP message holds more varbinds than this (64 KiB, at least 6 bytes each): a longer
# SearchRange or VarBind list is hostile, refused before any of it is answered.
MAX_ITEMS = 16384

NETWORK_ORDER = ">"
HOST_ORDER_LITTLE = "<"


class PduType(IntEnum):
    OPEN = 1
    CLOSE = 2
    REGISTER = 3
    UNREGISTER = 4
    GET = 5
    GET_NEXT = 6
    GET_BULK = 7
    TEST_SET = 8
    COMMIT_SET = 9
    UNDO_SET = 10
    CLEANUP_SET = 11
    NOTIFY = 12
    PING = 13
    INDEX_ALLOCATE = 14
    INDEX_DEALLOCATE = 15
    ADD_AGENT_CAPS = 16
    REMOVE_AGENT_CAPS = 17
    RESPONSE = 18


class Flag:
    """h.flags bits (section 6.1)."""

    INSTANCE_REGISTRATION = 0x01
    NEW_INDEX = 0x02
    ANY_INDEX = 0x04
    NON_DEFAULT_CONTEXT = 0x08
    NETWORK_BYTE_ORDER = 0x10


class CloseReason(IntEnum):
    """c.reason of a Close PDU (section 6.2.2)."""

    OTHER = 1
    PARSE_ERROR = 2
    PROTOCOL_ERROR = 3
    TIMEOUTS = 4
    SHUTDOWN = 5
    BY_MANAGER = 6


class ErrorCode(IntEnum):
    """res.error of a Response (section 6.2.16): SNMP's error-status values and AgentX's own."""

    NO_ERROR = 0
    TOO_BIG = 1
    NO_SUCH_NAME = 2
    BAD_VALUE = 3
    READ_ONLY = 4
    GEN_ERR = 5
    NO_ACCESS = 6
    WRONG_TYPE = 7
    WRONG_LENGTH = 8
    WRONG_ENCODING = 9
    WRONG_VALUE = 10
    NO_CREATION = 11
    INCONSISTENT_VALUE = 12
    RESOURCE_UNAVAILABLE = 13
    COMMIT_FAILED = 14
    UNDO_FAILED = 15
    AUTHORIZATION_ERROR = 16
    NOT_WRITABLE = 17
    INCONSISTENT_NAME = 18
    OPEN_FAILED = 256
    NOT_OPEN = 257
    INDEX_WRONG_TYPE = 258
    INDEX_ALREADY_ALLOCATED = 259
    INDEX_NONE_AVAILABLE = 260
    INDEX_NOT_ALLOCATED = 261
    UNSUPPORTED_CONTEXT = 262
    DUPLICATE_REGISTRATION = 263
    UNKNOWN_REGISTRATION = 264
    UNKNOWN_AGENT_CAPS = 265
    PARSE_ERROR = 266
    REQUEST_DENIED = 267
    PROCESSING_ERROR = 268


def error_name(code: int) -> str:
    """"duplicateRegistration" style name of a res.error value; unknown ones by number."""
    try:
        words = ErrorCode(code).name.lower().split("_")
    except ValueError:
        return f"error{code}"
    return words[0] + "".join(word.title() for word in words[1:])


DECODE_REASONS = (
    "bad_version",  # h.version is not 1
    "unknown_type",  # h.type is no PDU type of RFC 2741
    "payload_too_large",  # h.payload_length over MAX_PAYLOAD
    "bad_payload_length",  # h.payload_length not a multiple of 4
    "truncated",  # a field runs past the end of the payload
    "trailing_bytes",  # bytes left over after the last field of a fixed-shape PDU
    "oid_too_long",  # more than 128 sub-identifiers
    "bad_range",  # range_subid beyond the subtree's length
    "unknown_value_type",  # v.type is no AgentX value type
    "bad_value",  # a value that breaks its type: IpAddress not 4 bytes, string over 65535
    "too_many_items",  # more than MAX_ITEMS SearchRanges or VarBinds in one PDU
)


class AgentxDecodeError(AgentxError):
    """Bytes that are no valid AgentX PDU; ``reason`` is one of DECODE_REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        message = f"AgentX PDU rejected: {reason}"
        super().__init__(f"{message} ({detail})" if detail else message)
        self.reason = reason
        self.detail = detail


class AgentxEncodeError(AgentxError, ValueError):
    """The fields given cannot be put in an AgentX PDU."""


# -- PDU building blocks ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchRange:
    """A range of OIDs (section 5.2): from `start` (itself too if `include`) up to, not
    including, `end`; end () is unbounded."""

    start: Oid
    end: Oid = ()
    include: bool = False


@dataclass(frozen=True, slots=True)
class VarBind:
    name: Oid
    value: Value


# -- PDUs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Header fields every PDU has; the flags live in the subclasses that use them."""

    TYPE: ClassVar[PduType]
    HAS_CONTEXT: ClassVar[bool] = False
    session_id: int = 0
    transaction_id: int = 0
    packet_id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Open(Pdu):
    TYPE = PduType.OPEN
    timeout: int = 0  # seconds the master should wait for our answers; 0: its default
    id: Oid = ()
    description: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class Close(Pdu):
    TYPE = PduType.CLOSE
    reason: int = CloseReason.SHUTDOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class Register(Pdu):
    TYPE = PduType.REGISTER
    HAS_CONTEXT = True
    context: bytes | None = None
    subtree: Oid = ()
    priority: int = 127
    timeout: int = 0
    range_subid: int = 0  # 1-based position in subtree that ranges up to upper_bound; 0: none
    upper_bound: int = 0
    instance: bool = False  # INSTANCE_REGISTRATION flag


@dataclass(frozen=True, slots=True, kw_only=True)
class Unregister(Pdu):
    TYPE = PduType.UNREGISTER
    HAS_CONTEXT = True
    context: bytes | None = None
    subtree: Oid = ()
    priority: int = 127
    range_subid: int = 0
    upper_bound: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Get(Pdu):
    TYPE = PduType.GET
    HAS_CONTEXT = True
    context: bytes | None = None
    ranges: tuple[SearchRange, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GetNext(Pdu):
    TYPE = PduType.GET_NEXT
    HAS_CONTEXT = True
    context: bytes | None = None
    ranges: tuple[SearchRange, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GetBulk(Pdu):
    TYPE = PduType.GET_BULK
    HAS_CONTEXT = True
    context: bytes | None = None
    non_repeaters: int = 0
    max_repetitions: int = 0
    ranges: tuple[SearchRange, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TestSet(Pdu):
    __test__ = False  # not a pytest test class, whatever its name
    TYPE = PduType.TEST_SET
    HAS_CONTEXT = True
    context: bytes | None = None
    varbinds: tuple[VarBind, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitSet(Pdu):
    TYPE = PduType.COMMIT_SET


@dataclass(frozen=True, slots=True, kw_only=True)
class UndoSet(Pdu):
    TYPE = PduType.UNDO_SET


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupSet(Pdu):
    TYPE = PduType.CLEANUP_SET


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify(Pdu):
    TYPE = PduType.NOTIFY
    HAS_CONTEXT = True
    context: bytes | None = None
    varbinds: tuple[VarBind, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Pdu):
    TYPE = PduType.PING
    HAS_CONTEXT = True
    context: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexAllocate(Pdu):
    TYPE = PduType.INDEX_ALLOCATE
    HAS_CONTEXT = True
    context: bytes | None = None
    varbinds: tuple[VarBind, ...] = ()
    new_index: bool = False
    any_index: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexDeallocate(Pdu):
    TYPE = PduType.INDEX_DEALLOCATE
    HAS_CONTEXT = True
    context: bytes | None = None
    varbinds: tuple[VarBind, ...] = ()
    new_index: bool = False
    any_index: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AddAgentCaps(Pdu):
    TYPE = PduType.ADD_AGENT_CAPS
    HAS_CONTEXT = True
    context: bytes | None = None
    id: Oid = ()
    description: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveAgentCaps(Pdu):
    TYPE = PduType.REMOVE_AGENT_CAPS
    HAS_CONTEXT = True
    context: bytes | None = None
    id: Oid = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Response(Pdu):
    TYPE = PduType.RESPONSE
    sys_uptime: int = 0  # hundredths of a second; the master's, in its answers
    error: int = ErrorCode.NO_ERROR
    index: int = 0  # 1-based varbind the error is about; 0: none
    varbinds: tuple[VarBind, ...] = ()


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.TYPE: cls
    for cls in (Open, Close, Register, Unregister, Get, GetNext, GetBulk, TestSet, CommitSet,
                UndoSet, CleanupSet, Notify, Ping, IndexAllocate, IndexDeallocate, AddAgentCaps,
                RemoveAgentCaps, Response)
}  # fmt: skip


# -- encoding -----------------------------------------------------------------

_STRUCTS: dict[str, struct.Struct] = {}


def _struct(fmt: str) -> struct.Struct:
    found = _STRUCTS.get(fmt)
    if found is None:
        found = _STRUCTS[fmt] = struct.Struct(fmt)
    return found


class _Writer:
    __slots__ = ("order", "out")

    def __init__(self, order: str):
        self.order = order
        self.out = bytearray()

    def pack(self, fmt: str, *values: int) -> None:
        try:
            self.out += _struct(self.order + fmt).pack(*values)
        except struct.error as exc:
            raise AgentxEncodeError(f"field out of range: {exc} ({values})") from None

    def oid(self, oid: Oid, include: bool = False) -> None:
        self.out += _oid_bytes(oid, include, self.order)

    def octets(self, data: bytes) -> None:
        self.out += _octets_bytes(data, self.order)

    def varbinds(self, varbinds: tuple[VarBind, ...]) -> None:
        for varbind in varbinds:
            self.out += encode_varbind(varbind, self.order)

    def ranges(self, ranges: tuple[SearchRange, ...]) -> None:
        for search in ranges:
            self.oid(search.start, search.include)
            self.oid(search.end)


def encode(pdu: Pdu, *, network_byte_order: bool = True) -> bytes:
    """The PDU's bytes, header included; raises AgentxEncodeError for fields that do not fit."""
    order = NETWORK_ORDER if network_byte_order else HOST_ORDER_LITTLE
    body = _Writer(order)
    flags = Flag.NETWORK_BYTE_ORDER if network_byte_order else 0
    if pdu.HAS_CONTEXT and pdu.context is not None:
        flags |= Flag.NON_DEFAULT_CONTEXT
        body.octets(pdu.context)
    match pdu:
        case Open():
            body.pack("B3x", pdu.timeout)
            body.oid(pdu.id)
            body.octets(pdu.description)
        case Close():
            body.pack("B3x", pdu.reason)
        case Register() | Unregister():
            timeout = pdu.timeout if isinstance(pdu, Register) else 0
            if isinstance(pdu, Register) and pdu.instance:
                flags |= Flag.INSTANCE_REGISTRATION
            if pdu.range_subid > len(pdu.subtree):
                raise AgentxEncodeError(f"range_subid {pdu.range_subid} beyond a subtree of "
                                        f"{len(pdu.subtree)} sub-identifiers")
            body.pack("BBBx", timeout, pdu.priority, pdu.range_subid)
            body.oid(pdu.subtree)
            if pdu.range_subid:
                body.pack("I", pdu.upper_bound)
        case Get() | GetNext():
            body.ranges(pdu.ranges)
        case GetBulk():
            body.pack("HH", pdu.non_repeaters, pdu.max_repetitions)
            body.ranges(pdu.ranges)
        case TestSet() | Notify():
            body.varbinds(pdu.varbinds)
        case IndexAllocate() | IndexDeallocate():
            flags |= (Flag.NEW_INDEX if pdu.new_index else 0) | (
                Flag.ANY_INDEX if pdu.any_index else 0)
            body.varbinds(pdu.varbinds)
        case AddAgentCaps():
            body.oid(pdu.id)
            body.octets(pdu.description)
        case RemoveAgentCaps():
            body.oid(pdu.id)
        case Response():
            body.pack("IHH", pdu.sys_uptime, pdu.error, pdu.index)
            body.varbinds(pdu.varbinds)
        case CommitSet() | UndoSet() | CleanupSet() | Ping():
            pass
        case _:  # pragma: no cover - every Pdu subclass is listed above
            raise AgentxEncodeError(f"cannot encode {type(pdu).__name__}")
    header = _Writer(order)
    header.pack("BBBxIIII", AGENTX_VERSION, pdu.TYPE, flags, pdu.session_id,
                pdu.transaction_id, pdu.packet_id, len(body.out))
    return bytes(header.out + body.out)


# An OID's sub-identifiers by byte order and count, for encoding and decoding alike.
_SUBIDS = {order: tuple(struct.Struct(f"{order}{count}I") for count in range(MAX_SUBIDS + 1))
           for order in (NETWORK_ORDER, HOST_ORDER_LITTLE)}  # fmt: skip

# A varbind's type and reserved bytes, and its value's layout by type, made once: a walk
# encodes one varbind per value it reads (sub-identifiers use _SUBIDS, below).
_VARBIND_TYPE = {order: struct.Struct(order + "H2x")
                 for order in (NETWORK_ORDER, HOST_ORDER_LITTLE)}  # fmt: skip
_NUMBER_LAYOUTS = {order: {ValueType.INTEGER: struct.Struct(order + "i"),
                           ValueType.COUNTER32: struct.Struct(order + "I"),
                           ValueType.GAUGE32: struct.Struct(order + "I"),
                           ValueType.TIME_TICKS: struct.Struct(order + "I"),
                           ValueType.COUNTER64: struct.Struct(order + "Q")}
                   for order in (NETWORK_ORDER, HOST_ORDER_LITTLE)}  # fmt: skip
_OCTETS = (ValueType.OCTET_STRING, ValueType.IP_ADDRESS, ValueType.OPAQUE)


def _oid_bytes(oid: Oid, include: bool, order: str) -> bytes:
    """An OID as section 5.1 writes it, with the 1.3.6.1.X prefix compressed."""
    if len(oid) > MAX_SUBIDS:
        raise AgentxEncodeError(f"OID of {len(oid)} sub-identifiers (at most {MAX_SUBIDS})")
    prefix = 0
    if len(oid) >= 5 and oid[:4] == (1, 3, 6, 1) and 0 < oid[4] < 256:
        prefix, oid = oid[4], oid[5:]
    try:
        return bytes((len(oid), prefix, 1 if include else 0, 0)) + _SUBIDS[order][
            len(oid)].pack(*oid)
    except struct.error as exc:
        raise AgentxEncodeError(f"field out of range: {exc} ({oid})") from None


def _octets_bytes(data: bytes, order: str) -> bytes:
    return _struct(order + "I").pack(len(data)) + data + bytes(-len(data) % 4)


def encode_varbind(varbind: VarBind, order: str = NETWORK_ORDER) -> bytes:
    """One VarBind as a PDU carries it; in network byte order, as Responses are sent."""
    value = varbind.value
    kind, data = value.type, value.data
    head = _VARBIND_TYPE[order].pack(kind) + _oid_bytes(varbind.name, False, order)
    layout = _NUMBER_LAYOUTS[order].get(kind)
    if layout is not None:
        try:
            return head + layout.pack(data)
        except struct.error as exc:
            raise AgentxEncodeError(f"field out of range: {exc} ({data})") from None
    if kind in _OCTETS:
        return head + _octets_bytes(data, order)
    if kind is ValueType.OBJECT_IDENTIFIER:
        return head + _oid_bytes(data, False, order)
    return head  # NULL and the three exceptions carry no data


_RESPONSE_HEAD = struct.Struct(">BBBxIIIIIHH")


def encode_response(*, session_id: int, transaction_id: int, packet_id: int,
                    varbinds: bytes, error: int = 0, index: int = 0,
                    sys_uptime: int = 0) -> bytes:
    """A Response in network byte order around varbinds already encoded (encode_varbind):
    the answering path, where most varbinds come ready-made from the index."""
    return _RESPONSE_HEAD.pack(AGENTX_VERSION, PduType.RESPONSE, Flag.NETWORK_BYTE_ORDER,
                               session_id, transaction_id, packet_id, 8 + len(varbinds),
                               sys_uptime, error, index) + varbinds


# -- decoding -----------------------------------------------------------------


class Header(NamedTuple):  # a tuple: made for every PDU read, faster than a dataclass
    version: int
    type: int
    flags: int
    session_id: int
    transaction_id: int
    packet_id: int
    payload_length: int

    @property
    def order(self) -> str:
        return NETWORK_ORDER if self.flags & Flag.NETWORK_BYTE_ORDER else HOST_ORDER_LITTLE


def decode_header(data: bytes | bytearray | memoryview, max_payload: int = MAX_PAYLOAD) -> Header:
    """The first 20 bytes of a PDU, checked: version, type, and a payload length that is a
    multiple of 4 and at most `max_payload`."""
    if len(data) < HEADER_SIZE:
        raise AgentxDecodeError("truncated", f"{len(data)}-byte header")
    layout = _HEADER_LAYOUTS[data[2] & Flag.NETWORK_BYTE_ORDER]
    version, kind, flags, session, transaction, packet, length = layout.unpack_from(data)
    if version != AGENTX_VERSION:
        raise AgentxDecodeError("bad_version", f"version {version}")
    if kind not in PDU_CLASSES:
        raise AgentxDecodeError("unknown_type", f"type {kind}")
    if length > max_payload:
        raise AgentxDecodeError("payload_too_large", f"{length} bytes (limit {max_payload})")
    if length % 4:
        raise AgentxDecodeError("bad_payload_length", f"{length} bytes")
    return Header(version, kind, flags, session, transaction, packet, length)


# The header's layout by its byte order flag, made once: the decoder reads one per PDU.
_HEADER_LAYOUTS = {0: struct.Struct(HOST_ORDER_LITTLE + "BBBxIIII"),
                   Flag.NETWORK_BYTE_ORDER: struct.Struct(NETWORK_ORDER + "BBBxIIII")}


class _Reader:
    """Reads fields from a payload; every read checks the bytes are there first."""

    __slots__ = ("data", "order", "pos", "end")

    def __init__(self, data: bytes, order: str):
        self.data = data
        self.order = order
        self.pos = 0
        self.end = len(data)

    def need(self, size: int, what: str) -> None:
        if self.end - self.pos < size:
            raise AgentxDecodeError("truncated", f"{what} needs {size} bytes at offset "
                                    f"{self.pos}, {self.end - self.pos} left")

    def unpack(self, fmt: str, what: str) -> tuple:
        layout = _struct(self.order + fmt)
        self.need(layout.size, what)
        values = layout.unpack_from(self.data, self.pos)
        self.pos += layout.size
        return values

    def oid(self, what: str = "OID") -> tuple[Oid, bool]:
        # Every request names OIDs: this runs for each, so it reads without helpers.
        data, pos = self.data, self.pos
        self.need(4, what)
        count, prefix, include = data[pos], data[pos + 1], data[pos + 2]
        pos += 4
        if count > MAX_SUBIDS or (prefix and count + 5 > MAX_SUBIDS):
            raise AgentxDecodeError("oid_too_long", f"{what}: {count}"
                                    f"{' + 5' if prefix else ''} sub-identifiers")
        if self.end - pos < 4 * count:
            raise AgentxDecodeError("truncated", f"{what} needs {4 * count} bytes at offset "
                                    f"{pos}, {self.end - pos} left")
        subids = _SUBIDS[self.order][count].unpack_from(data, pos)
        self.pos = pos + 4 * count
        if prefix:
            return (1, 3, 6, 1, prefix) + subids, bool(include)
        return subids, bool(include)

    def octets(self, what: str) -> bytes:
        (length,) = self.unpack("I", what)
        padded = length + (-length % 4)
        self.need(padded, what)  # before slicing: a hostile length allocates nothing
        data = self.data[self.pos:self.pos + length]
        self.pos += padded
        return data

    def value(self, kind: int, name: Oid) -> Value:
        where = f"value of {'.'.join(map(str, name))}"
        if kind == ValueType.INTEGER:
            return Value(ValueType.INTEGER, self.unpack("i", where)[0])
        if kind in (ValueType.COUNTER32, ValueType.GAUGE32, ValueType.TIME_TICKS):
            return Value(ValueType(kind), self.unpack("I", where)[0])
        if kind == ValueType.COUNTER64:
            return Value(ValueType.COUNTER64, self.unpack("Q", where)[0])
        if kind in (ValueType.OCTET_STRING, ValueType.IP_ADDRESS, ValueType.OPAQUE):
            data = self.octets(where)
            try:
                return Value(ValueType(kind), data)
            except SnmpValueError as exc:
                raise AgentxDecodeError("bad_value", str(exc)) from None
        if kind == ValueType.OBJECT_IDENTIFIER:
            oid, _include = self.oid(where)
            return Value(ValueType.OBJECT_IDENTIFIER, oid or (0, 0))
        if kind in (ValueType.NULL, ValueType.NO_SUCH_OBJECT, ValueType.NO_SUCH_INSTANCE,
                    ValueType.END_OF_MIB_VIEW):
            return Value(ValueType(kind))
        raise AgentxDecodeError("unknown_value_type", f"type {kind} for {where}")

    def varbinds(self) -> tuple[VarBind, ...]:
        found = []
        while self.pos < self.end:  # each round consumes at least 8 bytes: bounded
            (kind,) = self.unpack("H2x", "varbind type")
            name, _include = self.oid("varbind name")
            found.append(VarBind(name, self.value(kind, name)))
            _check_count(found)
        return tuple(found)

    def ranges(self) -> tuple[SearchRange, ...]:
        found = []
        oid = self.oid
        while self.pos < self.end:  # each round consumes at least 8 bytes: bounded
            start, include = oid("range start")
            end, _ignored = oid("range end")  # end's include byte is reserved
            found.append(SearchRange(start, end, include))
            if len(found) > MAX_ITEMS:
                _check_count(found)
        return tuple(found)

    def done(self, what: str) -> None:
        if self.pos != self.end:
            raise AgentxDecodeError("trailing_bytes", f"{self.end - self.pos} bytes after {what}")


def _check_count(found: list) -> None:
    if len(found) > MAX_ITEMS:
        raise AgentxDecodeError("too_many_items", f"more than {MAX_ITEMS} in one PDU")


def decode_payload(header: Header, payload: bytes) -> Pdu:
    """The PDU a checked header and its payload (exactly payload_length bytes) make."""
    if len(payload) != header.payload_length:
        raise AgentxDecodeError("truncated", f"payload of {len(payload)} bytes, header says "
                                f"{header.payload_length}")
    cls = PDU_CLASSES[header.type]
    reader = _Reader(bytes(payload), header.order)
    fields: dict = {"session_id": header.session_id, "transaction_id": header.transaction_id,
                    "packet_id": header.packet_id}  # fmt: skip
    if cls.HAS_CONTEXT and header.flags & Flag.NON_DEFAULT_CONTEXT:
        fields["context"] = reader.octets("context")
    name = cls.__name__
    if cls is GetNext or cls is Get:  # nearly every PDU a master sends: tested first
        fields["ranges"] = reader.ranges()
    elif cls is Open:
        (fields["timeout"],) = reader.unpack("B3x", "o.timeout")
        fields["id"], _ = reader.oid("o.id")
        fields["description"] = reader.octets("o.descr")
        reader.done(name)
    elif cls is Close:
        (fields["reason"],) = reader.unpack("B3x", "c.reason")
        reader.done(name)
    elif cls is Register or cls is Unregister:
        timeout, fields["priority"], range_subid = reader.unpack("BBBx", "registration")
        if cls is Register:
            fields["timeout"] = timeout
            fields["instance"] = bool(header.flags & Flag.INSTANCE_REGISTRATION)
        fields["subtree"], _ = reader.oid("subtree")
        if range_subid:
            if range_subid > len(fields["subtree"]):
                raise AgentxDecodeError("bad_range", f"range_subid {range_subid} beyond a "
                                        f"subtree of {len(fields['subtree'])} sub-identifiers")
            (fields["upper_bound"],) = reader.unpack("I", "upper_bound")
        fields["range_subid"] = range_subid
        reader.done(name)
    elif cls is GetBulk:
        fields["non_repeaters"], fields["max_repetitions"] = reader.unpack("HH", "GetBulk")
        fields["ranges"] = reader.ranges()
    elif cls in (TestSet, Notify):
        fields["varbinds"] = reader.varbinds()
    elif cls in (IndexAllocate, IndexDeallocate):
        fields["new_index"] = bool(header.flags & Flag.NEW_INDEX)
        fields["any_index"] = bool(header.flags & Flag.ANY_INDEX)
        fields["varbinds"] = reader.varbinds()
    elif cls is AddAgentCaps:
        fields["id"], _ = reader.oid("a.id")
        fields["description"] = reader.octets("a.descr")
        reader.done(name)
    elif cls is RemoveAgentCaps:
        fields["id"], _ = reader.oid("a.id")
        reader.done(name)
    elif cls is Response:
        fields["sys_uptime"], fields["error"], fields["index"] = reader.unpack("IHH", "res")
        fields["varbinds"] = reader.varbinds()
    else:  # CommitSet, UndoSet, CleanupSet, Ping: header (and context) only
        reader.done(name)
    return cls(**fields)


def decode(data: bytes | bytearray, max_payload: int = MAX_PAYLOAD) -> Pdu:
    """Exactly one whole PDU."""
    header = decode_header(data, max_payload)
    end = HEADER_SIZE + header.payload_length
    if len(data) < end:
        raise AgentxDecodeError("truncated", f"{len(data)} bytes, PDU needs {end}")
    if len(data) > end:
        raise AgentxDecodeError("trailing_bytes", f"{len(data) - end} bytes after the PDU")
    return decode_payload(header, bytes(data[HEADER_SIZE:end]))


# -- the walk's request -------------------------------------------------------

_WALK_HEAD = struct.Struct(">BBBxIIII")
_OID_HEAD = struct.Struct(">BBBx")
_NETWORK_SUBIDS = _SUBIDS[NETWORK_ORDER]


def single_get_next(data: bytes | bytearray | memoryview, size: int
                    ) -> tuple[int, int, int, Oid, bool, Oid] | None:
    """(session_id, transaction_id, packet_id, start, include, end) when the first `size`
    bytes of `data` are exactly one GetNext of one SearchRange, in network byte order and
    the default context: the PDU a walk sends for each varbind (net-snmp's master turns
    GetBulk into such GetNexts too). None for anything else, including every PDU the full
    decoder would refuse: that one then decodes it and says why."""
    if size < HEADER_SIZE + 8:
        return None
    version, kind, flags, session, transaction, packet, length = _WALK_HEAD.unpack_from(data)
    if (version != AGENTX_VERSION or kind != PduType.GET_NEXT
            or (flags & (Flag.NETWORK_BYTE_ORDER | Flag.NON_DEFAULT_CONTEXT))
            != Flag.NETWORK_BYTE_ORDER or length != size - HEADER_SIZE):
        return None
    count, prefix, include = _OID_HEAD.unpack_from(data, HEADER_SIZE)
    end_at = HEADER_SIZE + 4 + 4 * count
    if count > MAX_SUBIDS or (prefix and count + 5 > MAX_SUBIDS) or end_at + 4 > size:
        return None
    end_count, end_prefix, _reserved = _OID_HEAD.unpack_from(data, end_at)
    if (end_count > MAX_SUBIDS or (end_prefix and end_count + 5 > MAX_SUBIDS)
            or end_at + 4 + 4 * end_count != size):
        return None
    start = _NETWORK_SUBIDS[count].unpack_from(data, HEADER_SIZE + 4)
    if prefix:
        start = (1, 3, 6, 1, prefix) + start
    end = _NETWORK_SUBIDS[end_count].unpack_from(data, end_at + 4)
    if end_prefix:
        end = (1, 3, 6, 1, end_prefix) + end
    return session, transaction, packet, start, include != 0, end


class Framer:
    """Cuts a byte stream into PDUs: feed() what arrives, then next_pdu() until None.

    A header is checked as soon as its 20 bytes are there, so a hostile length is
    refused before its payload is waited for. After an AgentxDecodeError the stream
    cannot be trusted: drop the Framer with its session.
    """

    __slots__ = ("_buffer", "_header", "max_payload")

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self._buffer = bytearray()
        self._header: Header | None = None
        self.max_payload = max_payload

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_pdu(self) -> Pdu | None:
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                return None
            self._header = decode_header(self._buffer, self.max_payload)
        end = HEADER_SIZE + self._header.payload_length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER_SIZE:end])
        del self._buffer[:end]
        header, self._header = self._header, None
        return decode_payload(header, payload)

