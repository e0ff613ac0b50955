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


@dataclass(frozen=True, slots=True)
class Tuple:
    """One direction of a conntrack entry. Ports are None for protocols without them."""

    protocol: int
    source: str
    destination: str
    source_port: int | None
    destination_port: int | None


@dataclass(frozen=True, slots=True)
class CtMessage:
    """One conntrack entry from an event or a dump. Times are ns since the epoch (UTC)."""

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


def attributes(data: bytes | memoryview, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Attribute type -> (payload start, payload end) for the attributes in data[start:end]."""
    found = {}
    offset = start
    while offset + 4 <= end:
        length, kind = _NLA.unpack_from(data, offset)
        if length < 4 or offset + length > end:
            raise DecodeError(f"attribute at byte {offset} has bad length {length}")
        found[kind & _NLA_TYPE_MASK] = (offset + 4, offset + length)
        offset += (length + 3) & ~3
    return found


def _tuple(data, span: tuple[int, int]) -> Tuple:
    parts = attributes(data, *span)
    if CTA_TUPLE_IP not in parts or CTA_TUPLE_PROTO not in parts:
        raise DecodeError("tuple without address or protocol")
    ips = attributes(data, *parts[CTA_TUPLE_IP])
    if CTA_IP_V4_SRC in ips:
        family, src, dst = socket.AF_INET, ips[CTA_IP_V4_SRC], ips.get(CTA_IP_V4_DST)
    else:
        family, src, dst = socket.AF_INET6, ips.get(CTA_IP_V6_SRC), ips.get(CTA_IP_V6_DST)
    if src is None or dst is None:
        raise DecodeError("tuple without source or destination address")
    proto = attributes(data, *parts[CTA_TUPLE_PROTO])
    number = data[proto[CTA_PROTO_NUM][0]] if CTA_PROTO_NUM in proto else 0
    sport = dport = None
    if CTA_PROTO_SRC_PORT in proto:
        sport = _BE16.unpack_from(data, proto[CTA_PROTO_SRC_PORT][0])[0]
        dport = _BE16.unpack_from(data, proto[CTA_PROTO_DST_PORT][0])[0]
    else:  # ICMP: the echo id is what NAT translates in place of a port
        icmp_id = proto.get(CTA_PROTO_ICMP_ID) or proto.get(CTA_PROTO_ICMPV6_ID)
        if icmp_id is not None:
            sport = dport = _BE16.unpack_from(data, icmp_id[0])[0]
    return Tuple(number, socket.inet_ntop(family, bytes(data[src[0]:src[1]])),
                 socket.inet_ntop(family, bytes(data[dst[0]:dst[1]])), sport, dport)


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


def _counters(data, span) -> tuple[int | None, int | None]:
    if span is None:
        return None, None
    inner = attributes(data, *span)
    packets = inner.get(CTA_COUNTERS_PACKETS) or inner.get(CTA_COUNTERS32_PACKETS)
    octets = inner.get(CTA_COUNTERS_BYTES) or inner.get(CTA_COUNTERS32_BYTES)
    return _be(data, packets), _be(data, octets)


def decode_conntrack(data, start: int, end: int, kind: str) -> CtMessage:
    """Decode one ctnetlink conntrack message body (after the netlink header)."""
    family = data[start]
    attrs = attributes(data, start + 4, end)  # after struct nfgenmsg
    if CTA_TUPLE_ORIG not in attrs or CTA_TUPLE_REPLY not in attrs:
        raise DecodeError("conntrack message without its tuples")
    start_ns = stop_ns = None
    if CTA_TIMESTAMP in attrs:
        stamps = attributes(data, *attrs[CTA_TIMESTAMP])
        start_ns = _be(data, stamps.get(CTA_TIMESTAMP_START))
        stop_ns = _be(data, stamps.get(CTA_TIMESTAMP_STOP))
    packets_orig, bytes_orig = _counters(data, attrs.get(CTA_COUNTERS_ORIG))
    packets_reply, bytes_reply = _counters(data, attrs.get(CTA_COUNTERS_REPLY))
    return CtMessage(
        kind=kind,
        family=family,
        original=_tuple(data, attrs[CTA_TUPLE_ORIG]),
        reply=_tuple(data, attrs[CTA_TUPLE_REPLY]),
        status=_be(data, attrs.get(CTA_STATUS)) or 0,
        mark=_be(data, attrs.get(CTA_MARK)) or 0,
        conntrack_id=_be(data, attrs.get(CTA_ID)) or 0,
        zone=_be(data, attrs.get(CTA_ZONE)) or 0,
        start_ns=start_ns or None,  # 0: timestamps were off when the entry was made
        stop_ns=stop_ns or None,
        packets_orig=packets_orig,
        bytes_orig=bytes_orig,
        packets_reply=packets_reply,
        bytes_reply=bytes_reply,
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
