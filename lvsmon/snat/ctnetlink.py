"""The ctnetlink wire format: conntrack messages decoded into plain objects, fast.

pyroute2 supplies the numbers (message types, multicast groups); the decoding here reads only
the attributes an SNAT record needs, with struct, because an event stream of tens of thousands
of messages per second leaves a few microseconds per message. tests/unit/test_snat_ctnetlink.py
checks this decoder against pyroute2's own nfct_msg parser on real kernel messages.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import NamedTuple

from pyroute2.netlink import NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR
from pyroute2.netlink.nfnetlink import NFNL_SUBSYS_CTNETLINK
from pyroute2.netlink.nfnetlink.nfctsocket import (
    IPCTNL_MSG_CT_DELETE,
    IPCTNL_MSG_CT_GET,
    IPCTNL_MSG_CT_NEW,
)

# Attribute numbers (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
CTA_TUPLE_ORIG = 1
CTA_TUPLE_REPLY = 2
CTA_STATUS = 3
CTA_MARK = 8
CTA_COUNTERS_ORIG = 9
CTA_COUNTERS_REPLY = 10
CTA_ID = 12
CTA_ZONE = 18
CTA_TIMESTAMP = 20
CTA_TUPLE_IP = 1
CTA_TUPLE_PROTO = 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT, CTA_PROTO_ICMP_ID = 1, 2, 3, 4
CTA_PROTO_ICMPV6_ID = 7
CTA_COUNTERS_PACKETS, CTA_COUNTERS_BYTES = 1, 2
CTA_COUNTERS32_PACKETS, CTA_COUNTERS32_BYTES = 3, 4
CTA_TIMESTAMP_START, CTA_TIMESTAMP_STOP = 1, 2

MSG_NEW = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW
MSG_DELETE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE
MSG_GET = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
NLM_F_MULTI = 0x2

_NLMSGHDR = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")
_BE16 = struct.Struct(">H")
_BE32 = struct.Struct(">I")
_BE64 = struct.Struct(">Q")
_NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

PROTOCOL_NAMES = {
    socket.IPPROTO_TCP: "tcp",
    socket.IPPROTO_UDP: "udp",
    socket.IPPROTO_ICMP: "icmp",
    socket.IPPROTO_ICMPV6: "icmpv6",
    132: "sctp",
    136: "udplite",
    33: "dccp",
    47: "gre",
}


class Tuple(NamedTuple):
    """One direction of a conntrack entry. Ports are None for protocols without them."""

    protocol: int
    source: str
    destination: str
    source_port: int | None
    destination_port: int | None


class CtMessage(NamedTuple):
    """One conntrack entry from an event or a dump. Times are ns since the epoch (UTC).

    A NamedTuple, not a frozen dataclass: tens of thousands are made per second."""

    kind: str  # "new", "update", "destroy" (events) or "dump"
    family: int  # socket.AF_INET / AF_INET6
    original: Tuple
    reply: Tuple
    status: int = 0
    mark: int = 0
    conntrack_id: int = 0
    zone: int = 0
    start_ns: int | None = None  # CTA_TIMESTAMP: only with nf_conntrack_timestamp on
    stop_ns: int | None = None
    packets_orig: int | None = None  # CTA_COUNTERS: only with nf_conntrack_acct on
    bytes_orig: int | None = None
    packets_reply: int | None = None
    bytes_reply: int | None = None

    @property
    def source_natted(self) -> bool:
        """The reply goes back to something else than the client's own source."""
        return (self.reply.destination != self.original.source
                or self.reply.destination_port != self.original.source_port)


class DecodeError(ValueError):
    """A ctnetlink message did not have the expected shape."""


# Nested attributes we descend into, by path; everything else is read as a leaf or skipped.
_NESTED_TOP = {CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY,
               CTA_TIMESTAMP}
_TUPLES = {CTA_TUPLE_ORIG, CTA_TUPLE_REPLY}  # their attributes nest once more


def flat_attributes(data, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Every attribute, keyed by its path (top << 16 | middle << 8 | leaf), as the span
    (payload start, payload end). Three explicit levels, no recursion: this is the hot path."""
    found: dict[int, tuple[int, int]] = {}
    unpack = _NLA.unpack_from
    offset = start
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        stop = offset + length
        if length < 4 or stop > end:
            raise DecodeError(f"attribute at byte {offset} has bad length {length}")
        kind &= _NLA_TYPE_MASK
        if kind in _NESTED_TOP:
            base = kind << 16
            in_tuple = kind in _TUPLES
            inner = offset + 4
            while inner + 4 <= stop:
                inner_length, inner_kind = unpack(data, inner)
                inner_stop = inner + inner_length
                if inner_length < 4 or inner_stop > stop:
                    raise DecodeError(f"attribute at byte {inner} has bad length {inner_length}")
                middle = base | (inner_kind & _NLA_TYPE_MASK) << 8
                if in_tuple:
                    leaf = inner + 4
                    while leaf + 4 <= inner_stop:
                        leaf_length, leaf_kind = unpack(data, leaf)
                        if leaf_length < 4 or leaf + leaf_length > inner_stop:
                            raise DecodeError(f"attribute at byte {leaf} has bad length "
                                              f"{leaf_length}")
                        found[middle | (leaf_kind & _NLA_TYPE_MASK)] = (leaf + 4,
                                                                         leaf + leaf_length)
                        leaf += (leaf_length + 3) & ~3
                else:
                    found[middle] = (inner + 4, inner_stop)
                inner += (inner_length + 3) & ~3
        else:
            found[kind << 16] = (offset + 4, stop)
        offset += (length + 3) & ~3
    return found


def _path(*parts: int) -> int:
    value = 0
    for level, part in enumerate(parts):
        value |= part << (16 - 8 * level)
    return value


class _TuplePaths(NamedTuple):
    v4_src: int
    v4_dst: int
    v6_src: int
    v6_dst: int
    number: int
    sport: int
    dport: int
    icmp_id: int
    icmpv6_id: int


def _tuple_paths(top: int) -> _TuplePaths:
    return _TuplePaths(
        _path(top, CTA_TUPLE_IP, CTA_IP_V4_SRC), _path(top, CTA_TUPLE_IP, CTA_IP_V4_DST),
        _path(top, CTA_TUPLE_IP, CTA_IP_V6_SRC), _path(top, CTA_TUPLE_IP, CTA_IP_V6_DST),
        _path(top, CTA_TUPLE_PROTO, CTA_PROTO_NUM), _path(top, CTA_TUPLE_PROTO, CTA_PROTO_SRC_PORT),
        _path(top, CTA_TUPLE_PROTO, CTA_PROTO_DST_PORT),
        _path(top, CTA_TUPLE_PROTO, CTA_PROTO_ICMP_ID),
        _path(top, CTA_TUPLE_PROTO, CTA_PROTO_ICMPV6_ID))


_ORIG_PATHS = _tuple_paths(CTA_TUPLE_ORIG)
_REPLY_PATHS = _tuple_paths(CTA_TUPLE_REPLY)
_P_STATUS, _P_MARK, _P_ID, _P_ZONE = (_path(CTA_STATUS), _path(CTA_MARK), _path(CTA_ID),
                                      _path(CTA_ZONE))
_P_START = _path(CTA_TIMESTAMP, CTA_TIMESTAMP_START)
_P_STOP = _path(CTA_TIMESTAMP, CTA_TIMESTAMP_STOP)
_P_COUNTERS = tuple(
    (_path(top, wide), _path(top, narrow))
    for top in (CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY)
    for wide, narrow in ((CTA_COUNTERS_PACKETS, CTA_COUNTERS32_PACKETS),
                         (CTA_COUNTERS_BYTES, CTA_COUNTERS32_BYTES)))


def _tuple(data, attrs: dict, paths: _TuplePaths) -> Tuple:
    src = attrs.get(paths.v4_src)
    if src is not None:
        family, dst = socket.AF_INET, attrs.get(paths.v4_dst)
    else:
        family, src, dst = socket.AF_INET6, attrs.get(paths.v6_src), attrs.get(paths.v6_dst)
    if src is None or dst is None:
        raise DecodeError("tuple without source or destination address")
    number = attrs.get(paths.number)
    sport = attrs.get(paths.sport)
    dport = attrs.get(paths.dport)
    if sport is not None and dport is not None:
        source_port = _BE16.unpack_from(data, sport[0])[0]
        destination_port = _BE16.unpack_from(data, dport[0])[0]
    else:  # ICMP: the echo id is what NAT translates in place of a port
        icmp_id = attrs.get(paths.icmp_id) or attrs.get(paths.icmpv6_id)
        source_port = destination_port = (None if icmp_id is None
                                          else _BE16.unpack_from(data, icmp_id[0])[0])
    return Tuple(data[number[0]] if number else 0,
                 socket.inet_ntop(family, bytes(data[src[0]:src[1]])),
                 socket.inet_ntop(family, bytes(data[dst[0]:dst[1]])),
                 source_port, destination_port)


def _be(data, span: tuple[int, int] | None) -> int | None:
    if span is None:
        return None
    size = span[1] - span[0]
    if size == 8:
        return _BE64.unpack_from(data, span[0])[0]
    if size == 4:
        return _BE32.unpack_from(data, span[0])[0]
    if size == 2:
        return _BE16.unpack_from(data, span[0])[0]
    raise DecodeError(f"integer attribute of {size} bytes")


def decode_conntrack(data, start: int, end: int, kind: str) -> CtMessage:
    """Decode one ctnetlink conntrack message body (after the netlink header)."""
    attrs = flat_attributes(data, start + 4, end)  # after struct nfgenmsg
    get = attrs.get
    counters = [_be(data, get(wide) or get(narrow)) for wide, narrow in _P_COUNTERS]
    return CtMessage(
        kind,
        data[start],
        _tuple(data, attrs, _ORIG_PATHS),
        _tuple(data, attrs, _REPLY_PATHS),
        _be(data, get(_P_STATUS)) or 0,
        _be(data, get(_P_MARK)) or 0,
        _be(data, get(_P_ID)) or 0,
        _be(data, get(_P_ZONE)) or 0,
        _be(data, get(_P_START)) or None,  # 0: timestamps were off when the entry was made
        _be(data, get(_P_STOP)) or None,
        *counters,
    )


@dataclass(frozen=True, slots=True)
class NetlinkMessage:
    """A netlink message header and where its body is in the datagram."""

    type: int
    flags: int
    seq: int
    start: int  # body start
    end: int


def split_datagram(data) -> list[NetlinkMessage]:
    """The netlink messages in one received datagram."""
    found = []
    offset = 0
    total = len(data)
    while offset + _NLMSGHDR.size <= total:
        length, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > total:
            raise DecodeError(f"netlink message at byte {offset} has bad length {length}")
        found.append(NetlinkMessage(kind, flags, seq, offset + _NLMSGHDR.size, offset + length))
        offset += (length + 3) & ~3
    return found


def event_kind(message: NetlinkMessage) -> str | None:
    """"new", "update", "destroy", "dump" for conntrack messages; None for anything else."""
    if message.type == MSG_DELETE:
        return "destroy"
    if message.type == MSG_NEW:
        if message.flags & NLM_F_MULTI:
            return "dump"
        return "new" if message.flags & NLM_F_CREATE else "update"
    return None


def is_done(message: NetlinkMessage) -> bool:
    return message.type == NLMSG_DONE


def error_code(data, message: NetlinkMessage) -> int | None:
    """The (positive) errno of an NLMSG_ERROR message, 0 for an ack, None for other types."""
    if message.type != NLMSG_ERROR:
        return None
    return -struct.unpack_from("=i", data, message.start)[0]


def dump_request(seq: int, family: int = socket.AF_UNSPEC) -> bytes:
    """IPCTNL_MSG_CT_GET with NLM_F_DUMP: the whole table (AF_UNSPEC: every family)."""
    body = struct.pack("=BBH", family, 0, 0)  # nfgenmsg: family, version 0, res_id
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), MSG_GET,
                            NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    return header + body
