"""The netlink wire format that the IPVS reader (generic netlink) and the conntrack reader
(nfnetlink) share: numbers, headers, messages in a datagram, attributes, errors, IP protocols.

The numbers are our own copies of include/uapi/linux/netlink.h, genetlink.h,
netfilter/nfnetlink.h and nfnetlink_conntrack.h (tests/unit/test_netlink.py checks them
against pyroute2's), so that decoding and one-shot programs never import pyroute2 (~140 ms).

Both readers are hot paths (10,000 real servers per IPVS refresh, tens of thousands of
conntrack events per second): the functions here are plain loops over offsets into one
buffer, no objects per attribute, and they raise Malformed with where and why.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator

# Protocols (socket(AF_NETLINK, SOCK_RAW, protocol)).
NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12
NETLINK_GENERIC = 16

# Socket options at level SOL_NETLINK.
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_BROADCAST_ERROR = 4
NETLINK_NO_ENOBUFS = 5

# Message types every netlink family shares.
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4

# Message flags.
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_ECHO, NLM_F_DUMP_INTR = 0x1, 0x2, 0x4, 0x8, 0x10
NLM_F_ROOT, NLM_F_MATCH, NLM_F_ATOMIC = 0x100, 0x200, 0x400  # for GET requests
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND = 0x100, 0x200, 0x400, 0x800  # for NEW

# Attribute type bits.
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = 0x3FFF  # the type without the two flags above

# Generic netlink controller: resolves a family name ("IPVS") to its message type.
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2

# nfnetlink: message type = subsystem << 8 | message; multicast groups of conntrack.
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_DELETE = 0, 1, 2
NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE, NFNLGRP_CONNTRACK_DESTROY = 1, 2, 3
NFNETLINK_V0 = 0

NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, seq, port id
NLATTR = struct.Struct("=HH")  # length, type
GENLMSGHDR = struct.Struct("=BBH")  # command, version, reserved
NFGENMSG = struct.Struct("=BBH")  # family, version, resource id (0 here)
_ERRNO = struct.Struct("=i")
_U16 = struct.Struct("=H")

# IP protocol numbers (IANA) of the protocols IPVS services and conntrack entries carry.
IP_PROTOCOLS = {
    1: "icmp",
    6: "tcp",
    17: "udp",
    33: "dccp",
    47: "gre",
    58: "icmpv6",
    132: "sctp",
    136: "udplite",
}
IP_PROTOCOL_NUMBERS = {name: number for number, name in IP_PROTOCOLS.items()}


def protocol_name(number: int) -> str:
    """"tcp" for 6; the number itself as text for a protocol without a name here."""
    return IP_PROTOCOLS.get(number) or str(number)


class Malformed(ValueError):
    """A netlink message or attribute that does not have the shape the kernel sends."""


class KernelError(Exception):
    """The kernel answered a request with an error code (a positive errno)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def align4(length: int) -> int:
    """Messages and attributes start on 4-byte boundaries (NLMSG_ALIGN, NLA_ALIGN)."""
    return (length + 3) & ~3


# --- reading ------------------------------------------------------------------------------


def messages(data, end: int | None = None,
             start: int = 0) -> Iterator[tuple[int, int, int, int, int]]:
    """(type, flags, seq, body start, body end) of each message in one datagram (from byte
    `start`, where a message begins).

    The body is what follows the 16-byte header. A message whose length does not fit
    raises Malformed after the good ones before it were handed out.
    """
    end = len(data) if end is None else end
    unpack = NLMSGHDR.unpack_from
    offset = start
    while offset + 16 <= end:
        length, kind, flags, seq, _port = unpack(data, offset)
        stop = offset + length
        if length < 16 or stop > end:
            raise Malformed(f"netlink message at byte {offset} claims {length} bytes; "
                            f"the datagram has {end}")
        yield kind, flags, seq, offset + 16, stop
        offset = (stop + 3) & ~3


def error_code(data, start: int, end: int) -> int:
    """The positive errno in the body of NLMSG_ERROR (0: an acknowledgement) or NLMSG_DONE
    (0: the dump ended well)."""
    if start == end:
        return 0  # a DONE without status, as old kernels send
    if end - start < 4:
        raise Malformed(f"error message body of {end - start} bytes, not a 4-byte code")
    return -_ERRNO.unpack_from(data, start)[0]


def attributes(data, start: int = 0, end: int | None = None) -> dict[int, bytes]:
    """One level of attributes: type (flags stripped) -> value bytes; a repeated type keeps
    the last value. For what is read once in a while; hot paths use attribute_spans or a
    layout of their own."""
    end = len(data) if end is None else end
    unpack = NLATTR.unpack_from
    found = {}
    offset = start
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        stop = offset + length
        if length < 4 or stop > end:
            raise Malformed(_overrun(kind, length, offset, end))
        found[kind & NLA_TYPE_MASK] = bytes(data[offset + 4 : stop])
        offset = (stop + 3) & ~3
    return found


def attribute_spans(data, start: int, end: int, nested: frozenset[int],
                    twice_nested: frozenset[int]) -> dict[int, tuple[int, int]]:
    """Every attribute down to three levels, keyed by its path (see `path`), as the span
    (value start, value end) in `data`.

    Top-level types in `nested` are descended into; their children too when the top type
    is also in `twice_nested`. Explicit loops, no recursion, no copies: this is the
    conntrack event hot path.
    """
    found: dict[int, tuple[int, int]] = {}
    unpack = NLATTR.unpack_from
    offset = start
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        stop = offset + length
        if length < 4 or stop > end:
            raise Malformed(_overrun(kind, length, offset, end))
        kind &= NLA_TYPE_MASK
        if kind in nested:
            base = kind << 16
            twice = kind in twice_nested
            inner = offset + 4
            while inner + 4 <= stop:
                inner_length, inner_kind = unpack(data, inner)
                inner_stop = inner + inner_length
                if inner_length < 4 or inner_stop > stop:
                    raise Malformed(_overrun(inner_kind, inner_length, inner, stop))
                middle = base | (inner_kind & NLA_TYPE_MASK) << 8
                if twice:
                    leaf = inner + 4
                    while leaf + 4 <= inner_stop:
                        leaf_length, leaf_kind = unpack(data, leaf)
                        leaf_stop = leaf + leaf_length
                        if leaf_length < 4 or leaf_stop > inner_stop:
                            raise Malformed(_overrun(leaf_kind, leaf_length, leaf, inner_stop))
                        found[middle | (leaf_kind & NLA_TYPE_MASK)] = (leaf + 4, leaf_stop)
                        leaf = (leaf_stop + 3) & ~3
                else:
                    found[middle] = (inner + 4, inner_stop)
                inner = (inner_stop + 3) & ~3
        else:
            found[kind << 16] = (offset + 4, stop)
        offset = (stop + 3) & ~3
    return found


def path(*types: int) -> int:
    """The key attribute_spans gives the attribute reached through `types` (1 to 3 levels)."""
    key = 0
    for level, kind in enumerate(types):
        key |= kind << (16 - 8 * level)
    return key


def _overrun(kind: int, length: int, offset: int, end: int) -> str:
    return (f"attribute {kind & NLA_TYPE_MASK} at byte {offset} claims {length} bytes; "
            f"{end - offset} are left")


# --- writing ------------------------------------------------------------------------------


def attribute(kind: int, value: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    length = 4 + len(value)
    return NLATTR.pack(length, kind) + value + b"\0" * (align4(length) - length)


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """One netlink message (port id 0: the kernel fills in ours)."""
    return NLMSGHDR.pack(16 + len(body), kind, flags, seq, 0) + body


def genl_message(family_id: int, cmd: int, version: int, flags: int, seq: int,
                 attrs: bytes = b"") -> bytes:
    """One generic netlink request of family `family_id`."""
    return message(family_id, flags, seq, GENLMSGHDR.pack(cmd, version, 0) + attrs)


# --- generic netlink family names ---------------------------------------------------------


def resolve_family(sock: socket.socket, name: str, seq: int, buffer: bytearray) -> int | None:
    """The message type of generic netlink family `name`, asked of the controller on `sock`
    (a bound NETLINK_GENERIC socket); None when this kernel has no such family.

    Raises KernelError for any other refusal; socket errors (a timeout) pass through.
    """
    request = genl_message(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST, seq,
                           attribute(CTRL_ATTR_FAMILY_NAME, name.encode("ascii") + b"\0"))
    sock.send(request)
    while True:
        size = sock.recv_into(buffer)
        for kind, _flags, reply_seq, start, end in messages(buffer, size):
            if reply_seq != seq:
                continue  # left over from an earlier request
            if kind == NLMSG_ERROR:
                code = error_code(buffer, start, end)
                if code == errno.ENOENT:
                    return None
                raise KernelError(code or errno.EPROTO)  # an ack: no answer to read
            if kind == GENL_ID_CTRL:
                found = attributes(buffer, start + GENLMSGHDR.size, end)
                family = found.get(CTRL_ATTR_FAMILY_ID)
                if family is None or len(family) != 2:
                    raise Malformed(f"the controller's answer for {name} has no family id")
                return _U16.unpack(family)[0]
