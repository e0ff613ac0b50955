"""Read (and change one weight of) the IPVS table over generic netlink, family "IPVS".

One read is: a dump of the services, one dump of the real servers per service
(the kernel only dumps destinations of one named service), and GET_INFO for the
version and the connection table size. Totals do not exist over netlink; a
netlink read leaves ``IpvsTable.stats``/``rates`` unknown and
``lvsmon.ipvs.read_table`` adds them from /proc/net/ip_vs_stats.

Why a plain socket and our own decoder, not pyroute2's IPVS socket: one pyroute2
request costs ~150 us of Python around a ~5 us syscall, and decoding one
real-server message ~220 us. A 1,000 x 10 table needs 1,001 dumps and 11,000
messages, and a daemon reads it on every refresh. The framing and the numbers are
lvsmon.netlink's (shared with the conntrack reader), so nothing here imports
pyroute2; the unit tests encode kernel-shaped messages with pyroute2's classes, an
encoder independent of this decoder.

Services and real servers take a fast path: the kernel sends each with the same
attributes in the same order, so such a message is checked header by header and
read with one precompiled struct (``SERVICE_LAYOUTS``, ``DEST_LAYOUTS``, read_run),
and the model's objects are made without the dataclass __init__ (make_real_server).
Any other shape (an older or newer kernel, a missing or extra attribute, padding)
goes through the generic attribute walk, which gives the same result or says what
is wrong (Malformed, a warning of the read). In the qemu guest this reads the
1,000 x 10 table of benchmarks/ipvs_read.py in less than half the generic walk's time.

Wire facts (net/netfilter/ipvs/ip_vs_ctl.c): addresses are sent as the 16-byte
``union nf_inet_addr`` (IPv4 in the first 4 bytes); ports are big-endian;
IPVS_SVC_ATTR_NETMASK is the IPv4 mask in network order, but for IPv6 services
a prefix length in host order; stats nests hold u32 or u64 values (STATS64 all
u64); numbers are host order.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import NamedTuple

from lvsmon import netlink
from lvsmon.errors import (
    IpvsError,
    IpvsUnavailable,
    NotFound,
    PermissionDenied,
    UsageError,
)
from lvsmon.model import (
    FORWARD_METHODS,
    UNKNOWN_COUNTERS,
    Counters,
    IpvsTable,
    RealServer,
    ServiceKey,
    VirtualService,
    join_host_port,
)
from lvsmon.netlink import (
    IP_PROTOCOL_NUMBERS,
    IP_PROTOCOLS,
    NETLINK_GENERIC,
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_NOOP,
    KernelError,
    Malformed,
    align4,
)

GENL_NAME = "IPVS"
GENL_VERSION = 1

# Commands (include/uapi/linux/ip_vs.h)
CMD_NEW_SERVICE, CMD_GET_SERVICE = 1, 4
CMD_NEW_DEST, CMD_SET_DEST, CMD_GET_DEST = 5, 6, 8
CMD_SET_INFO, CMD_GET_INFO = 14, 15

CMD_ATTR_SERVICE, CMD_ATTR_DEST = 1, 2

SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT, SVC_FWMARK = 1, 2, 3, 4, 5
SVC_SCHED_NAME, SVC_FLAGS, SVC_TIMEOUT, SVC_NETMASK = 6, 7, 8, 9
SVC_STATS, SVC_PE_NAME, SVC_STATS64 = 10, 11, 12

DEST_ADDR, DEST_PORT, DEST_FWD_METHOD, DEST_WEIGHT = 1, 2, 3, 4
DEST_U_THRESH, DEST_L_THRESH = 5, 6
DEST_ACTIVE_CONNS, DEST_INACT_CONNS, DEST_PERSIST_CONNS = 7, 8, 9
DEST_STATS, DEST_ADDR_FAMILY, DEST_STATS64 = 10, 11, 12
DEST_TUN_TYPE, DEST_TUN_PORT, DEST_TUN_FLAGS = 13, 14, 15

STATS_CONNS, STATS_INPKTS, STATS_OUTPKTS, STATS_INBYTES, STATS_OUTBYTES = 1, 2, 3, 4, 5
STATS_CPS, STATS_INPPS, STATS_OUTPPS, STATS_INBPS, STATS_OUTBPS = 6, 7, 8, 9, 10

INFO_VERSION, INFO_CONN_TAB_SIZE = 1, 2

# Service flags (IP_VS_SVC_F_*)
F_PERSISTENT, F_HASHED, F_ONEPACKET = 0x1, 0x2, 0x4
F_SCHED1, F_SCHED2, F_SCHED3 = 0x8, 0x10, 0x20
CONN_F_FWD_MASK = 0x7

# The transport protocols an IPVS service can balance (plus "fwm" services, by mark).
SERVICE_PROTOCOLS = ("tcp", "udp", "sctp")

FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
AF_BY_FAMILY = {name: af for af, name in FAMILIES.items()}

NATIVE = sys.byteorder
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_BE16 = struct.Struct(">H")
_FLAGS = struct.Struct("=II")  # struct ip_vs_flags {flags, mask}

RECV_BUFFER_BYTES = 256 * 1024  # a netlink dump datagram is at most ~32 KiB
_MSG_TRUNC = int(socket.MSG_TRUNC)  # a plain int: `&` with the IntFlag runs Python code
MAX_LISTED_WARNINGS = 10


# --- decoding: values ---------------------------------------------------------------------


def _need(attrs: dict[int, bytes], kind: int, what: str) -> bytes:
    value = attrs.get(kind)
    if value is None:
        raise Malformed(f"no {what} attribute")
    return value


def _uint(value: bytes, what: str) -> int:
    if len(value) not in (1, 2, 4, 8):
        raise Malformed(f"{what} is {len(value)} bytes, not an integer")
    return int.from_bytes(value, NATIVE)


def _be16(value: bytes, what: str) -> int:
    if len(value) != 2:
        raise Malformed(f"{what} is {len(value)} bytes, not a 16-bit port")
    return _BE16.unpack(value)[0]


def _string(value: bytes, what: str) -> str:
    text = value.split(b"\0", 1)[0]
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise Malformed(f"{what} is not ASCII: {text!r}") from None


def _address(value: bytes, af: int, what: str) -> str:
    if af == socket.AF_INET and len(value) >= 4:
        return socket.inet_ntop(socket.AF_INET, value[:4])
    if af == socket.AF_INET6 and len(value) >= 16:
        return str(ipaddress.IPv6Address(value[:16]))
    raise Malformed(f"{what} of {len(value)} bytes for address family {af}")


def _family(af: int) -> str:
    family = FAMILIES.get(af)
    if family is None:
        raise Malformed(f"unknown address family {af}")
    return family


def genl_attributes(data, start: int, end: int, cmd: int, what: str) -> dict[int, bytes]:
    """The top-level attributes of one IPVS message body, which must carry command `cmd`."""
    if end - start < netlink.GENLMSGHDR.size:
        raise Malformed(f"generic netlink header cut short ({end - start} bytes)")
    if data[start] != cmd:
        raise Malformed(f"command {data[start]} in {what}")
    return netlink.attributes(data, start + netlink.GENLMSGHDR.size, end)


def nested(attrs: dict[int, bytes], kind: int, what: str) -> dict[int, bytes]:
    return netlink.attributes(_need(attrs, kind, what))


# The STATS64 nest as Linux sends it on x86 and other machines with cheap unaligned
# access: ten u64 attributes in type order, no padding attributes. Read in one go.
_STATS64_LAYOUT = struct.Struct("=" + "HHQ" * 10)
_STATS64_LENGTHS = (12,) * 10
_STATS64_KINDS = tuple(range(STATS_CONNS, STATS_OUTBPS + 1))


def counters_from(attrs: dict[int, bytes], stats64: int, stats32: int) -> tuple[Counters, Counters]:
    """(counters, rates) from the STATS64 nest, else the 32-bit STATS nest.

    Old kernels without STATS64 give connections and packets as u32 that wrap.
    """
    raw = attrs.get(stats64)
    if raw is not None and len(raw) == _STATS64_LAYOUT.size:
        fields = _STATS64_LAYOUT.unpack(raw)
        if fields[0::3] == _STATS64_LENGTHS and fields[1::3] == _STATS64_KINDS:
            values = fields[2::3]
            return Counters(*values[:5]), Counters(*values[5:])
    if raw is None:
        raw = attrs.get(stats32)
    if raw is None:
        return UNKNOWN_COUNTERS, UNKNOWN_COUNTERS
    nest = netlink.attributes(raw)
    values = [
        None if nest.get(kind) is None else _uint(nest[kind], f"stats attribute {kind}")
        for kind in range(STATS_CONNS, STATS_OUTBPS + 1)
    ]
    return Counters(*values[:5]), Counters(*values[5:])


_FIXED_FLAG_NAMES = {
    F_PERSISTENT: "persistent", F_HASHED: "hashed", F_ONEPACKET: "onepacket",
    F_SCHED1: "flag-1", F_SCHED2: "flag-2", F_SCHED3: "flag-3",
}  # fmt: skip
_SCHEDULER_FLAG_NAMES = {
    "sh": {F_SCHED1: "sh-fallback", F_SCHED2: "sh-port"},
    "mh": {F_SCHED1: "mh-fallback", F_SCHED2: "mh-port"},
}


def flag_names(flags: int, scheduler: str) -> tuple[str, ...]:
    """Service flag bits -> names, as ipvsadm words them, lowest bit first.

    The three scheduler flags mean sh-fallback/sh-port for sh, mh-fallback/mh-port
    for mh, and flag-1/2/3 otherwise. Unknown bits show as hex.
    """
    own = _SCHEDULER_FLAG_NAMES.get(scheduler, {})
    names = []
    while flags:
        bit = flags & -flags  # the lowest bit set
        flags ^= bit
        names.append(own.get(bit) or _FIXED_FLAG_NAMES.get(bit) or f"0x{bit:x}")
    return tuple(names)


def _prefix_length(raw: bytes | None, af: int) -> int | None:
    """The persistence netmask as a prefix length; None for an IPv4 mask that is not one."""
    if raw is None or len(raw) != 4:
        raise Malformed("persistence netmask missing or not 4 bytes")
    if af == socket.AF_INET6:
        plen = _U32.unpack(raw)[0]  # a prefix length, host order
        if not 1 <= plen <= 128:
            raise Malformed(f"IPv6 persistence prefix length {plen}")
        return plen
    mask = int.from_bytes(raw, "big")
    plen = 32 - (~mask & 0xFFFFFFFF).bit_length()
    if mask != (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
        return None  # the kernel takes any mask, e.g. 255.0.255.0
    return plen


# --- decoding: services -------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceEntry:
    """A decoded service, before its real servers are read, and how to name it to the kernel."""

    fields: dict  # VirtualService's arguments but real_servers
    af: int
    identity: bytes  # encoded IPVS_CMD_ATTR_SERVICE nest: AF + (PROTOCOL, ADDR, PORT | FWMARK)

    @property
    def key(self) -> ServiceKey:
        return self.fields["key"]

    def service(self, real_servers: tuple[RealServer, ...] = ()) -> VirtualService:
        return VirtualService(**self.fields, real_servers=real_servers)


def service_from_attrs(
    attrs: dict[int, bytes], warn: Callable[[str], None] | None = None
) -> ServiceEntry:
    """The IPVS_CMD_ATTR_SERVICE nest of a NEW_SERVICE message -> service without real servers.

    warn: told about odd but usable values (a netmask that is no prefix).
    """
    af = _uint(_need(attrs, SVC_AF, "address family"), "address family")
    family = _family(af)
    scheduler = _string(_need(attrs, SVC_SCHED_NAME, "scheduler"), "scheduler")
    fwmark = _uint(attrs[SVC_FWMARK], "fwmark") if SVC_FWMARK in attrs else 0
    if fwmark:
        key = ServiceKey("fwm", family, fwmark=fwmark)
    else:
        number = _uint(_need(attrs, SVC_PROTOCOL, "protocol"), "protocol")
        protocol = IP_PROTOCOLS.get(number)
        if protocol not in SERVICE_PROTOCOLS:
            named = f" ({protocol})" if protocol else ""
            raise Malformed(f"unknown service protocol {number}{named}")
        address = _address(_need(attrs, SVC_ADDR, "address"), af, "service address")
        port = _be16(_need(attrs, SVC_PORT, "port"), "service port")
        key = ServiceKey(protocol, family, address, port)

    raw_flags = _need(attrs, SVC_FLAGS, "flags")
    if len(raw_flags) < _FLAGS.size:
        raise Malformed(f"flags of {len(raw_flags)} bytes")
    flags = _FLAGS.unpack_from(raw_flags)[0]
    timeout = prefix = None
    if flags & F_PERSISTENT:
        timeout = _uint(_need(attrs, SVC_TIMEOUT, "timeout"), "timeout")
        prefix = _prefix_length(attrs.get(SVC_NETMASK), af)
        if prefix is None and warn is not None:
            mask = socket.inet_ntoa(attrs[SVC_NETMASK])
            warn(f"{key}: persistence netmask {mask} is not a prefix; prefix length unknown")
    engine = _string(attrs[SVC_PE_NAME], "persistence engine") if SVC_PE_NAME in attrs else None
    stats, rates = counters_from(attrs, SVC_STATS64, SVC_STATS)
    return _service_entry(key, af, scheduler, flags, timeout, prefix, engine, stats, rates)


def _service_entry(key: ServiceKey, af: int, scheduler: str, flags: int, timeout: int | None,
                   prefix: int | None, engine: str | None, stats: Counters,
                   rates: Counters) -> ServiceEntry:
    fields = {
        "key": key,
        "scheduler": scheduler,
        "flags": flag_names(flags, scheduler),
        "persistence_timeout_seconds": timeout,
        "persistence_prefix_length": prefix,
        "persistence_engine": engine or None,
        "stats": stats,
        "rates": rates,
    }
    return ServiceEntry(fields, af, identity_of(key, af))


def decode_service(data, start: int, end: int,
                   warn: Callable[[str], None] | None = None) -> ServiceEntry:
    """One NEW_SERVICE message body (after the netlink header) -> ServiceEntry."""
    attrs = genl_attributes(data, start, end, CMD_NEW_SERVICE, "the service dump")
    return service_from_attrs(nested(attrs, CMD_ATTR_SERVICE, "service"), warn)


# --- decoding: real servers, the generic walk ---------------------------------------------

# Numbers of a real server: attribute -> name. The first four are required.
_DEST_U32 = {
    DEST_FWD_METHOD: "forwarding method", DEST_WEIGHT: "weight",
    DEST_ACTIVE_CONNS: "active connections", DEST_INACT_CONNS: "inactive connections",
    DEST_U_THRESH: "upper threshold", DEST_L_THRESH: "lower threshold",
    DEST_PERSIST_CONNS: "persistent connections",
}  # fmt: skip
_DEST_REQUIRED = tuple(_DEST_U32)[:4]
_DEST_OPTIONAL = tuple(_DEST_U32)[4:]


def real_server_from_attrs(attrs: dict[int, bytes], service_af: int) -> RealServer:
    """The IPVS_CMD_ATTR_DEST nest of a NEW_DEST message -> RealServer."""
    # Kernels before 4.x send no ADDR_FAMILY: then the dest has the service's family.
    family = attrs.get(DEST_ADDR_FAMILY)
    af = service_af if family is None else _uint(family, "real server address family")
    _family(af)
    address = _address(_need(attrs, DEST_ADDR, "address"), af, "real server address")
    port = _be16(_need(attrs, DEST_PORT, "port"), "real server port")
    # Straight unpacks; what was wrong is worked out only when one fails.
    unpack, get = _U32.unpack, attrs.get
    try:
        method, weight, active, inactive = [unpack(attrs[k])[0] for k in _DEST_REQUIRED]
        upper, lower, persistent = [
            None if (raw := get(k)) is None else unpack(raw)[0] for k in _DEST_OPTIONAL
        ]
    except (KeyError, struct.error):
        raise Malformed(_dest_problem(attrs)) from None
    method &= CONN_F_FWD_MASK
    if method >= len(FORWARD_METHODS):
        raise Malformed(f"unknown forwarding method {method}")
    stats, rates = counters_from(attrs, DEST_STATS64, DEST_STATS)
    return RealServer(
        address=address,
        port=port,
        forward=FORWARD_METHODS[method],
        weight=weight,
        active_connections=active,
        inactive_connections=inactive,
        upper_threshold=upper,
        lower_threshold=lower,
        persistent_connections=persistent,
        stats=stats,
        rates=rates,
    )


def _dest_problem(attrs: dict[int, bytes]) -> str:
    for kind, name in _DEST_U32.items():
        raw = attrs.get(kind)
        if raw is None and kind in _DEST_REQUIRED:
            return f"no {name} attribute"
        if raw is not None and len(raw) != 4:
            return f"{name} is {len(raw)} bytes, not 4"
    return "unreadable real server"


def dest_attributes(data, start: int, end: int) -> dict[int, bytes]:
    """The IPVS_CMD_ATTR_DEST nest of one NEW_DEST message body, as attributes."""
    attrs = genl_attributes(data, start, end, CMD_NEW_DEST, "the real server dump")
    return nested(attrs, CMD_ATTR_DEST, "real server")


def decode_dest(data, start: int, end: int, service_af: int) -> RealServer:
    """One NEW_DEST message body (after the netlink header) -> RealServer, whatever its
    attribute layout (the generic walk)."""
    return real_server_from_attrs(dest_attributes(data, start, end), service_af)


# --- decoding: messages in the layouts the kernel sends -----------------------------------
#
# The kernel sends every real server (ip_vs_genl_fill_dest) and every service
# (ip_vs_genl_fill_service) with the same attributes in the same order. Such a message is
# checked header by header and read with one precompiled struct; whatever differs (an
# older or newer kernel, a missing or extra attribute, padding, an odd value) goes to the
# generic walk, which gives the same result or says what is wrong.


class Layout(NamedTuple):
    """A whole message body of one fixed attribute layout.

    A body has the layout when it is `size` bytes long and its header bytes (the generic
    netlink header and every attribute header: lengths and types) are the expected ones:
    ``int.from_bytes(body, "little") & mask == expected``, one check for all of them.
    `values` then reads the values kept, in order, in one unpack, and build(values, arg)
    makes the decoded object of them, or None to leave the message to the generic walk.
    """

    size: int
    mask: int
    expected: int
    values: struct.Struct
    build: Callable


def compile_layout(cmd: int, top: int, attrs: tuple, build: Callable) -> Layout:
    """The Layout of a message `cmd` whose body is one nest `top` of `attrs`.

    attrs: (type, value size, struct format or None to skip) for a plain attribute,
    (type, (children...)) for a nest; in the order the kernel puts them.
    """
    headers = ["=BBH"]  # the header fields, values skipped
    expected = [cmd, GENL_VERSION, 0]
    values = ["=4x"]  # the values kept, headers skipped

    def length(spec) -> int:
        if isinstance(spec[1], tuple):
            return 4 + sum(align4(length(child)) for child in spec[1])
        return 4 + spec[1]

    def emit(spec) -> None:
        headers.append("HH")
        expected.extend((length(spec), spec[0]))
        values.append("4x")
        if isinstance(spec[1], tuple):
            for child in spec[1]:
                emit(child)
            return
        _kind, size, fmt = spec
        headers.append(f"{align4(size)}x")
        values.append(f"{fmt}{align4(size) - size}x" if fmt else f"{align4(size)}x")

    nest = (top, attrs)
    emit(nest)
    shape = struct.Struct("".join(headers))
    all_ones = [0xFF, 0xFF, 0xFFFF] + [0xFFFF] * (len(expected) - 3)
    layout = Layout(
        size=4 + length(nest),
        mask=int.from_bytes(shape.pack(*all_ones), "little"),
        expected=int.from_bytes(shape.pack(*expected), "little"),
        values=struct.Struct("".join(values)),
        build=build,
    )
    assert shape.size == layout.values.size == layout.size and layout.size % 4 == 0
    return layout


def by_size(layouts) -> dict[int, tuple[Layout, ...]]:
    found: dict[int, tuple[Layout, ...]] = {}
    for layout in layouts:
        found[layout.size] = (*found.get(layout.size, ()), layout)
    return found


# Of the netlink header of each message: length, type, flags and seq are checked, not the
# port id. The body follows at bit 128 of the int made from the message's bytes.
_HEADER_MASK = int.from_bytes(netlink.NLMSGHDR.pack(0xFFFFFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0),
                              "little")


def read_run(data, end: int, family_id: int, seq: int,
             layouts: dict[int, tuple[Layout, ...]], arg, found: list) -> int:
    """Decode the messages at the start of one datagram of a dump answer while they are in
    one of `layouts` (by body size), appending build(values, arg) of each to `found`;
    return the offset of the first message that is not (DONE, another layout, an odd
    value, another request's), from which the generic walk takes over.

    Each message is checked whole (netlink header, generic netlink header, every attribute
    header) and read with one unpack: no attribute walk, no dict, one call per datagram.
    """
    checks: dict[int, list] = {}  # message length -> [(mask, expected, unpack, build)]
    offset = 0
    while offset + 16 <= end:
        length = _U32.unpack_from(data, offset)[0]
        check = checks.get(length)
        if check is None:
            candidates = layouts.get(length - 16)
            if candidates is None:
                break
            header = netlink.NLMSGHDR.pack(length, family_id, netlink.NLM_F_MULTI, seq, 0)
            expected = int.from_bytes(header, "little")
            check = checks[length] = [
                (layout.mask << 128 | _HEADER_MASK, layout.expected << 128 | expected,
                 layout.values.unpack_from, layout.build)
                for layout in candidates
            ]
        stop = offset + length
        if stop > end:
            break
        whole = int.from_bytes(data[offset:stop], "little")
        for mask, expected, unpack, build in check:
            if whole & mask == expected:
                item = build(unpack(data, offset + 16), arg)
                break
        else:
            break
        if item is None:
            break
        found.append(item)
        offset = stop
    return offset


# --- making the model's objects for 10,000 real servers ----------------------------------
#
# A frozen dataclass's generated __init__ sets each field through object.__setattr__. For a
# real server and its two Counters that was most of the fast path's time in the qemu guest
# (the 1,000 x 10 table of benchmarks/ipvs_read.py: 2.1 s with the setters against 3.3 s,
# same boot). For a class whose
# __init__ does nothing else, object.__new__ and each slot's own setter make the same object.
# If the model changes shape (another field, a __post_init__, no slots), the class is called.

_COUNTER_FIELDS = ("connections", "packets_in", "packets_out", "bytes_in", "bytes_out")
_REAL_SERVER_FIELDS = (
    "address", "port", "forward", "weight", "active_connections", "inactive_connections",
    "upper_threshold", "lower_threshold", "persistent_connections", "stats", "rates",
)  # fmt: skip


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple | None:
    """The setters of cls's slots `names`, when cls(*values) does nothing but set those
    fields in that order; else None."""
    if not (is_dataclass(cls) and cls.__dataclass_params__.init
            and "__init__" in vars(cls) and not hasattr(cls, "__post_init__")):
        return None
    if tuple(f.name for f in fields(cls)) != names or not all(f.init for f in fields(cls)):
        return None
    slots = [vars(cls).get(name) for name in names]
    if not all(isinstance(slot, types.MemberDescriptorType) for slot in slots):
        return None
    return tuple(slot.__set__ for slot in slots)


_new = object.__new__
_COUNTER_SETTERS = slot_setters(Counters, _COUNTER_FIELDS)
_REAL_SERVER_SETTERS = slot_setters(RealServer, _REAL_SERVER_FIELDS)

if _COUNTER_SETTERS is not None:
    _c0, _c1, _c2, _c3, _c4 = _COUNTER_SETTERS

    def make_counters(connections, packets_in, packets_out, bytes_in, bytes_out) -> Counters:
        made = _new(Counters)
        _c0(made, connections)
        _c1(made, packets_in)
        _c2(made, packets_out)
        _c3(made, bytes_in)
        _c4(made, bytes_out)
        return made
else:
    make_counters = Counters

if _REAL_SERVER_SETTERS is not None:
    _r0, _r1, _r2, _r3, _r4, _r5, _r6, _r7, _r8, _r9, _r10 = _REAL_SERVER_SETTERS

    def make_real_server(address, port, forward, weight, active, inactive, upper, lower,
                         persistent, stats, rates) -> RealServer:
        made = _new(RealServer)
        _r0(made, address)
        _r1(made, port)
        _r2(made, forward)
        _r3(made, weight)
        _r4(made, active)
        _r5(made, inactive)
        _r6(made, upper)
        _r7(made, lower)
        _r8(made, persistent)
        _r9(made, stats)
        _r10(made, rates)
        return made
else:
    def make_real_server(*values) -> RealServer:
        return RealServer(**dict(zip(_REAL_SERVER_FIELDS, values, strict=True)))


# --- the kernel's layouts: real servers ----------------------------------------------------

# Forwarding method by the low 3 bits of the connection flags; None: no such method.
_FORWARD_BY_BITS = FORWARD_METHODS + (None,) * (CONN_F_FWD_MASK + 1 - len(FORWARD_METHODS))
_AF_INET, _AF_INET6 = int(socket.AF_INET), int(socket.AF_INET6)


def _text_address(af: int, raw: bytes) -> str | None:
    """A 16-byte union nf_inet_addr as text, None for an unknown family."""
    if af == _AF_INET:
        return socket.inet_ntop(_AF_INET, raw[:4])
    if af == _AF_INET6:
        return str(ipaddress.IPv6Address(raw))
    return None


def _real_server_of(v: tuple, _service_af) -> RealServer | None:
    """Values of _dest_attrs() -> RealServer, as real_server_from_attrs makes it (the real
    server names its own family in these layouts)."""
    forward = _FORWARD_BY_BITS[v[3] & CONN_F_FWD_MASK]
    if v[10] == _AF_INET:  # the common case, without a call
        address = socket.inet_ntop(_AF_INET, v[0][:4])
    else:
        address = _text_address(v[10], v[0])
    if forward is None or address is None:
        return None
    return make_real_server(
        address, v[1] << 8 | v[2], forward, v[4], v[7], v[8], v[5], v[6], v[9],
        make_counters(v[11], v[12], v[13], v[14], v[15]),
        make_counters(v[16], v[17], v[18], v[19], v[20]))


def _stats(size_of: Callable[[int], int], fmt: str | None) -> tuple:
    return tuple((kind, size_of(kind), fmt) for kind in range(STATS_CONNS, STATS_OUTBPS + 1))


# The 32-bit STATS nest (skipped when STATS64 is there): bytes are u64 even here.
_STATS32 = _stats(lambda kind: 8 if kind in (STATS_INBYTES, STATS_OUTBYTES) else 4, None)
_STATS64 = _stats(lambda kind: 8, "Q")
_TUNNEL = ((DEST_TUN_TYPE, 1, None), (DEST_TUN_PORT, 2, None), (DEST_TUN_FLAGS, 2, None))


def _dest_attrs(tunnel: tuple) -> tuple:
    """A real server as ip_vs_genl_fill_dest() puts it. Values kept, in this order: address,
    port (two bytes, big-endian), method, weight, upper, lower, active, inactive,
    persistent, family, then the ten STATS64 counters."""
    return (
        (DEST_ADDR, 16, "16s"), (DEST_PORT, 2, "BB"), (DEST_FWD_METHOD, 4, "I"),
        (DEST_WEIGHT, 4, "I"), *tunnel, (DEST_U_THRESH, 4, "I"), (DEST_L_THRESH, 4, "I"),
        (DEST_ACTIVE_CONNS, 4, "I"), (DEST_INACT_CONNS, 4, "I"), (DEST_PERSIST_CONNS, 4, "I"),
        (DEST_ADDR_FAMILY, 2, "H"), (DEST_STATS, _STATS32), (DEST_STATS64, _STATS64),
    )  # fmt: skip


# Kernels with the tunnel attributes (TUN_TYPE, TUN_PORT, TUN_FLAGS, 5.2 on) and kernels
# from before them. Both send the address in 16 bytes whatever its family.
DEST_LAYOUTS = by_size(
    compile_layout(CMD_NEW_DEST, CMD_ATTR_DEST, _dest_attrs(tunnel), _real_server_of)
    for tunnel in (_TUNNEL, ())
)


def read_dest_run(data, end: int, family_id: int, seq: int, service_af: int,
                  found: list[RealServer]) -> int:
    """read_run over real server messages: the RealServer decode_dest would give of each."""
    return read_run(data, end, family_id, seq, DEST_LAYOUTS, service_af, found)


# --- the kernel's layouts: services --------------------------------------------------------


def _service_of(v: tuple, _warn, mark: bool) -> ServiceEntry | None:
    """Values of _service_attrs() -> ServiceEntry, as service_from_attrs makes it."""
    if mark:
        af, fwmark, raw_name, flags, _flags_mask, timeout, netmask = v[:7]
        counters = v[7:]
    else:
        af, number, raw, port_high, port_low, raw_name, flags, _flags_mask, timeout, netmask = (
            v[:10])
        counters = v[10:]
    family = FAMILIES.get(af)
    if family is None:
        return None
    if mark:
        if not fwmark:
            return None
        key = ServiceKey("fwm", family, fwmark=fwmark)
    else:
        protocol = IP_PROTOCOLS.get(number)
        if protocol not in SERVICE_PROTOCOLS:
            return None
        key = ServiceKey(protocol, family, _text_address(af, raw), port_high << 8 | port_low)
    try:
        scheduler = raw_name.split(b"\0", 1)[0].decode("ascii")
        prefix = _prefix_length(netmask, af) if flags & F_PERSISTENT else None
    except (UnicodeDecodeError, Malformed):
        return None
    if flags & F_PERSISTENT and prefix is None:
        return None  # a mask that is no prefix: the generic walk warns about it
    return _service_entry(
        key, af, scheduler, flags, timeout if flags & F_PERSISTENT else None, prefix, None,
        make_counters(*counters[:5]), make_counters(*counters[5:]))


def _service_attrs(mark: bool, name_size: int) -> tuple:
    """A service without a persistence engine as ip_vs_genl_fill_service() puts it, its
    scheduler's name (and NUL) `name_size` bytes."""
    names = ((SVC_FWMARK, 4, "I"),) if mark else (
        (SVC_PROTOCOL, 2, "H"), (SVC_ADDR, 16, "16s"), (SVC_PORT, 2, "BB"))
    return (
        (SVC_AF, 2, "H"), *names, (SVC_SCHED_NAME, name_size, f"{name_size}s"),
        (SVC_FLAGS, 8, "II"), (SVC_TIMEOUT, 4, "I"), (SVC_NETMASK, 4, "4s"),
        (SVC_STATS, _STATS32), (SVC_STATS64, _STATS64),
    )  # fmt: skip


def _service_builder(mark: bool) -> Callable:
    return lambda values, warn: _service_of(values, warn, mark)


# By address and port or by mark; scheduler names of 2 ("rr") to 5 ("lblcr") letters.
SERVICE_LAYOUTS = by_size(
    compile_layout(CMD_NEW_SERVICE, CMD_ATTR_SERVICE, _service_attrs(mark, size),
                   _service_builder(mark))
    for mark in (False, True) for size in range(3, 7)
)


def read_service_run(data, end: int, family_id: int, seq: int, warn,
                     found: list[ServiceEntry]) -> int:
    """read_run over service messages: the ServiceEntry decode_service would give of each."""
    return read_run(data, end, family_id, seq, SERVICE_LAYOUTS, warn, found)


# --- decoding: info -----------------------------------------------------------------------


def info_from_attrs(attrs: dict[int, bytes]) -> tuple[str, int]:
    """GET_INFO reply -> ("1.2.1", connection table size)."""
    code = _uint(_need(attrs, INFO_VERSION, "version"), "version")
    size = _uint(_need(attrs, INFO_CONN_TAB_SIZE, "connection table size"), "table size")
    return f"{(code >> 16) & 0xFF}.{(code >> 8) & 0xFF}.{code & 0xFF}", size


def decode_info(data, start: int, end: int, _unused=None) -> tuple[str, int]:
    return info_from_attrs(genl_attributes(data, start, end, CMD_SET_INFO, "answer to GET_INFO"))


# --- encoding -----------------------------------------------------------------------------


# IPVS_CMD_ATTR_SERVICE naming a service: AF (u16) and FWMARK (u32), or AF, PROTOCOL (u16),
# ADDR (16 bytes) and PORT (big-endian u16); each attribute header, then its padded value.
_MARK_IDENTITY = struct.Struct("=HH" "HHH2x" "HHI")
_ADDRESS_IDENTITY = struct.Struct("=HH" "HHH2x" "HHH2x" "HH16s" "HH2s2x")


def identity_of(key: ServiceKey, af: int) -> bytes:
    """The IPVS_CMD_ATTR_SERVICE nest that names `key` (address family `af`): what ipvsadm
    sends, and what the kernel looks a service up by."""
    if key.protocol == "fwm":
        if not key.fwmark:
            raise UsageError(f"{key}: a firewall-mark service needs a mark", hint="e.g. fwm:7")
        return _MARK_IDENTITY.pack(_MARK_IDENTITY.size, CMD_ATTR_SERVICE, 6, SVC_AF, af,
                                   8, SVC_FWMARK, key.fwmark)
    if key.protocol not in SERVICE_PROTOCOLS or key.address is None or key.port is None:
        raise UsageError(f"not a virtual service: {key}", hint="e.g. tcp:10.0.0.1:80")
    packed = socket.inet_pton(af, key.address)  # the union nf_inet_addr: zeros after IPv4
    return _ADDRESS_IDENTITY.pack(_ADDRESS_IDENTITY.size, CMD_ATTR_SERVICE, 6, SVC_AF, af,
                                  6, SVC_PROTOCOL, IP_PROTOCOL_NUMBERS[key.protocol],
                                  20, SVC_ADDR, packed, 6, SVC_PORT, key.port.to_bytes(2, "big"))


def request_bytes(family_id: int, cmd: int, flags: int, seq: int, attrs: bytes = b"") -> bytes:
    return netlink.genl_message(family_id, cmd, GENL_VERSION, flags, seq, attrs)


# --- errors -------------------------------------------------------------------------------


def _kernel_error(code: int, what: str) -> Exception:
    if code in (errno.EPERM, errno.EACCES):
        return PermissionDenied(
            f"the kernel refused {what}: IPVS over netlink needs CAP_NET_ADMIN",
            hint="run as root or give lvsmon CAP_NET_ADMIN",
        )
    if code == errno.ESRCH:
        return NotFound(f"{what}: no such virtual service or real server")
    return IpvsError(f"{what}: {os.strerror(code)} (errno {code})")


class _Warnings:
    """Collects warnings; lists the first few and counts the rest."""

    def __init__(self):
        self.listed: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.listed) < MAX_LISTED_WARNINGS:
            self.listed.append(text)
        else:
            self.more += 1

    def as_tuple(self) -> tuple[str, ...]:
        if self.more:
            return (*self.listed, f"{self.more} more warnings like these")
        return tuple(self.listed)


# --- the socket ---------------------------------------------------------------------------


class IpvsNetlink:
    """One generic netlink socket bound to IPVS, reused for every read.

    Use as a context manager (``with IpvsNetlink() as nl: nl.read_table()``).
    Blocking: a daemon calls it from a worker thread.
    """

    def __init__(self, timeout_seconds: float = 10.0, fast_path: bool = True):
        """fast_path: False walks every real server message generically (to compare)."""
        self.timeout_seconds = timeout_seconds
        self.fast_path = fast_path
        self.fast_path_messages = 0  # services and real servers read by read_run, ever
        self._sock: socket.socket | None = None
        self._family_id = 0
        self._seq = int(time.time()) & 0xFFFFFF
        self._buf = bytearray(RECV_BUFFER_BYTES)

    def __enter__(self) -> IpvsNetlink:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        except OSError as exc:
            raise IpvsUnavailable(
                f"no generic netlink in this kernel ({exc.strerror})",
                hint="IPVS needs a Linux kernel with netlink",
            ) from exc
        try:
            sock.settimeout(self.timeout_seconds)
            sock.bind((0, 0))
            self._sock = sock
            self._family_id = self._resolve_family()
        except BaseException:
            self._sock = None
            sock.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- reading --

    def read_table(self) -> IpvsTable:
        """The whole table: services, their real servers, version and table size."""
        self.open()
        warnings = _Warnings()
        entries = self._request(CMD_GET_SERVICE, b"", dump=True, warnings=warnings,
                                decode=decode_service, arg=warnings.add,
                                run=read_service_run if self.fast_path else None,
                                skipped=lambda: "skipped a service message")
        services = tuple(
            entry.service(tuple(self._dest_dump(entry.identity, entry.af, warnings, entry.key)))
            for entry in entries
        )
        info = self._request(CMD_GET_INFO, b"", dump=False, warnings=warnings,
                             decode=decode_info, skipped=lambda: "IPVS info")
        version, size = info[0] if info else (None, None)
        return IpvsTable(
            source="netlink",
            read_at_seconds=time.time(),
            services=services,
            version=version,
            connection_table_size=size,
            warnings=warnings.as_tuple(),
        )

    def _dest_dump(self, identity: bytes, af: int, warnings: _Warnings, key: ServiceKey,
                   decode=decode_dest, fast: bool = True) -> list:
        """Each real server of one service: what decode(data, start, end, af) makes of each
        message (a RealServer); the kernel's usual layout read by read_dest_run if `fast`."""
        run = read_dest_run if fast and self.fast_path else None
        return self._request(CMD_GET_DEST, identity, dump=True, warnings=warnings,
                             decode=decode, arg=af, run=run,
                             skipped=lambda: f"skipped a real server message of {key}")

    def read_real_servers(self, key: ServiceKey) -> tuple[RealServer, ...]:
        """The real servers of one service: a lookup and one dump, not the whole table
        (the daemon's drain guard asks this several times a second).

        Raises NotFound when the service does not exist.
        """
        self.open()
        identity, af = self._find_service(key)
        return tuple(self._dest_dump(identity, af, _Warnings(), key))

    # -- changing --

    def set_weight(self, key: ServiceKey, address: str, port: int, weight: int) -> RealServer:
        """Set one real server's weight, keeping its other settings. Returns it as it was.

        Raises NotFound (and changes nothing) for an unknown service or real server.
        """
        if not 0 <= weight <= 0x7FFFFFFF:
            raise UsageError(f"weight {weight} out of range", hint="use 0 .. 2147483647")
        self.open()
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise UsageError(f"{address!r} is not an IP address") from None
        identity, af = self._find_service(key)
        warnings = _Warnings()

        def decode(data, start, end, af):
            dest = dest_attributes(data, start, end)
            return dest, real_server_from_attrs(dest, af)

        matches = [
            (dest, rs)
            for dest, rs in self._dest_dump(identity, af, warnings, key, decode, fast=False)
            if rs.address == address and rs.port == port
        ]
        if not matches:
            raise NotFound(
                f"no real server {join_host_port(address, port)} in {key}",
                hint="list them with `lvsmon ipvs`",
            )
        dest, rs = matches[0]
        kept = (
            DEST_ADDR, DEST_PORT, DEST_ADDR_FAMILY, DEST_FWD_METHOD, DEST_U_THRESH,
            DEST_L_THRESH, DEST_TUN_TYPE, DEST_TUN_PORT, DEST_TUN_FLAGS,
        )  # fmt: skip
        # The dest's own bytes go back unchanged (an encoder of its own could, as
        # pyroute2 does, re-encode the big-endian tunnel port in host order).
        body = b"".join(netlink.attribute(k, dest[k]) for k in kept if k in dest)
        body += netlink.attribute(DEST_WEIGHT, _U32.pack(weight))
        self._request(CMD_SET_DEST, identity + netlink.attribute(CMD_ATTR_DEST, body),
                      dump=False, warnings=warnings,
                      what=f"setting the weight of {rs.endpoint} in {key}")
        return rs

    def _find_service(self, key: ServiceKey) -> tuple[bytes, int]:
        """(identity nest, address family) of an existing service, else NotFound."""
        if key.family is not None:
            candidates = [AF_BY_FAMILY[key.family]]
        else:
            candidates = [socket.AF_INET, socket.AF_INET6]  # a mark without a family
        for af in candidates:
            identity = identity_of(key, af)
            try:
                self._request(CMD_GET_SERVICE, identity, dump=False, warnings=_Warnings(),
                              what=f"looking up {key}")
                return identity, af
            except NotFound:
                continue
        raise NotFound(f"no virtual service {key}", hint="list them with `lvsmon ipvs`")

    # -- the wire --

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def _request(self, cmd: int, attrs: bytes, dump: bool, warnings: _Warnings,
                 what: str | None = None, decode=None, arg=None, run=None,
                 skipped: Callable[[], str] | None = None) -> list:
        """Send one request and read its whole answer: decode(data, start, end, arg) of
        each IPVS message in it (a message that raises Malformed is left out, with a
        warning that starts with skipped()). `run`, when given, reads the messages it can
        at the start of each datagram first (read_dest_run).

        Always reads to the end (DONE or the ACK): a dump left half read would
        make the kernel refuse the next one on this socket with EBUSY.
        """
        seq = self._next_seq()
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        what = what or f"IPVS command {cmd}"
        try:
            return self._exchange(request_bytes(self._family_id, cmd, flags, seq, attrs),
                                  seq, warnings, what, decode, arg, run, skipped)
        except KernelError as exc:
            raise _kernel_error(exc.code, what) from None
        except TimeoutError:
            self.close()  # the answer may still come; the next call opens a fresh socket
            raise IpvsError(f"{what}: no answer from the kernel in "
                            f"{self.timeout_seconds:g} s") from None
        except OSError as exc:
            self.close()
            raise _kernel_error(exc.errno or errno.EIO, what) from exc

    def _exchange(self, request: bytes, seq: int, warnings: _Warnings, what: str, decode, arg,
                  run, skipped) -> list:
        sock, family_id = self._sock, self._family_id
        sock.send(request)
        data = self._buf  # decoders copy what they keep out of it
        replies = []
        while True:
            size, _, msg_flags, _ = sock.recvmsg_into([data])
            if msg_flags & _MSG_TRUNC:
                warnings.add(f"{what}: a netlink datagram was cut short")
            try:
                offset = 0
                if run is not None:
                    before = len(replies)
                    offset = run(data, size, family_id, seq, arg, replies)
                    self.fast_path_messages += len(replies) - before
                for kind, _flags, reply_seq, start, end in netlink.messages(data, size, offset):
                    if reply_seq != seq:
                        continue  # left over from an earlier request that was given up
                    if kind == family_id:
                        if decode is None:
                            continue
                        try:
                            replies.append(decode(data, start, end, arg))
                        except Malformed as exc:
                            warnings.add(f"{skipped()}: {exc}")
                    elif kind in (NLMSG_DONE, NLMSG_ERROR):
                        code = netlink.error_code(data, start, end)
                        if code > 0:
                            raise KernelError(code)
                        return replies
                    elif kind != NLMSG_NOOP:
                        warnings.add(f"{what}: unexpected netlink message type {kind}")
            except Malformed as exc:
                warnings.add(f"{what}: dropped the rest of a datagram: {exc}")

    def _resolve_family(self) -> int:
        """The IPVS family id, asked of the generic netlink controller."""
        try:
            family_id = netlink.resolve_family(self._sock, GENL_NAME, self._next_seq(),
                                               self._buf)
        except TimeoutError:
            raise IpvsError("no answer from the generic netlink controller") from None
        except KernelError as exc:
            raise _kernel_error(exc.code, "looking up the IPVS netlink family") from None
        except Malformed as exc:
            raise IpvsError(f"the generic netlink controller's answer: {exc}") from None
        if family_id is None:
            raise IpvsUnavailable(
                "no IPVS in this kernel", hint="load the ip_vs module (modprobe ip_vs)"
            )
        return family_id
