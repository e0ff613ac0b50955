"""The ctnetlink wire format: conntrack messages decoded into plain objects, fast.

The netlink framing, attribute walking and numbers are lvsmon.netlink's; here are the
conntrack attributes and what an SNAT record needs of them, read with struct, because an
event stream of tens of thousands of messages per second leaves a few microseconds per
message. tests/unit/test_snat_ctnetlink.py checks this decoder against pyroute2's own
nfct_msg encoder and parser.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

from lvsmon import netlink
from lvsmon.netlink import (
    IPCTNL_MSG_CT_DELETE,
    IPCTNL_MSG_CT_GET,
    IPCTNL_MSG_CT_NEW,
    NFNL_SUBSYS_CTNETLINK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    Malformed,
    path,
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

_BE16 = struct.Struct(">H")
_BE32 = struct.Struct(">I")
_BE64 = struct.Struct(">Q")


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


# Attributes with children: the tuples nest twice (CTA_TUPLE_IP -> CTA_IP_V4_SRC ...).
_TUPLES = frozenset({CTA_TUPLE_ORIG, CTA_TUPLE_REPLY})
_NESTED = _TUPLES | {CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY, CTA_TIMESTAMP}


def flat_attributes(data, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Every attribute of a conntrack message body, keyed by its lvsmon.netlink.path."""
    return netlink.attribute_spans(data, start, end, _NESTED, _TUPLES)


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
        path(top, CTA_TUPLE_IP, CTA_IP_V4_SRC), path(top, CTA_TUPLE_IP, CTA_IP_V4_DST),
        path(top, CTA_TUPLE_IP, CTA_IP_V6_SRC), path(top, CTA_TUPLE_IP, CTA_IP_V6_DST),
        path(top, CTA_TUPLE_PROTO, CTA_PROTO_NUM), path(top, CTA_TUPLE_PROTO, CTA_PROTO_SRC_PORT),
        path(top, CTA_TUPLE_PROTO, CTA_PROTO_DST_PORT),
        path(top, CTA_TUPLE_PROTO, CTA_PROTO_ICMP_ID),
        path(top, CTA_TUPLE_PROTO, CTA_PROTO_ICMPV6_ID))


_ORIG_PATHS = _tuple_paths(CTA_TUPLE_ORIG)
_REPLY_PATHS = _tuple_paths(CTA_TUPLE_REPLY)
_P_STATUS, _P_MARK, _P_ID, _P_ZONE = (path(CTA_STATUS), path(CTA_MARK), path(CTA_ID),
                                      path(CTA_ZONE))
_P_START = path(CTA_TIMESTAMP, CTA_TIMESTAMP_START)
_P_STOP = path(CTA_TIMESTAMP, CTA_TIMESTAMP_STOP)
_P_COUNTERS = tuple(
    (path(top, wide), path(top, narrow))
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
        raise Malformed("tuple without source or destination address")
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
    raise Malformed(f"integer attribute of {size} bytes")


def decode_conntrack(data, start: int, end: int, kind: str) -> CtMessage:
    """Decode one ctnetlink conntrack message body (after the netlink header)."""
    if end - start < 4:
        raise Malformed(f"conntrack message body of {end - start} bytes, no nfgenmsg header")
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


def event_kind(kind: int, flags: int) -> str | None:
    """"new", "update", "destroy", "dump" for a conntrack message of this type and these
    flags; None for anything else."""
    if kind == MSG_DELETE:
        return "destroy"
    if kind == MSG_NEW:
        if flags & NLM_F_MULTI:
            return "dump"
        return "new" if flags & NLM_F_CREATE else "update"
    return None


def dump_request(seq: int, family: int = socket.AF_UNSPEC) -> bytes:
    """IPCTNL_MSG_CT_GET with NLM_F_DUMP: the whole table (AF_UNSPEC: every family)."""
    body = netlink.NFGENMSG.pack(family, netlink.NFNETLINK_V0, 0)
    return netlink.message(MSG_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, body)
