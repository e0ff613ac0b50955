"""lvsmon.netlink, the wire format the IPVS and conntrack readers share: our own numbers
against pyroute2's and the socket module's, framing and attributes against pyroute2's
encoder, and a family lookup against this machine's generic netlink controller."""

import errno
import socket
import struct

import pyroute2.netlink as pr_netlink
import pyroute2.netlink.nfnetlink as pr_nfnetlink
import pyroute2.netlink.nfnetlink.nfctsocket as pr_nfct
import pytest
from pyroute2.netlink import genlmsg

from lvsmon import netlink

FROM_PYROUTE2 = {
    pr_netlink: [
        "NETLINK_ROUTE", "NETLINK_NETFILTER", "NETLINK_GENERIC",
        "SOL_NETLINK", "NETLINK_ADD_MEMBERSHIP", "NETLINK_BROADCAST_ERROR", "NETLINK_NO_ENOBUFS",
        "NLMSG_NOOP", "NLMSG_ERROR", "NLMSG_DONE", "NLMSG_OVERRUN",
        "NLM_F_REQUEST", "NLM_F_MULTI", "NLM_F_ACK", "NLM_F_ECHO", "NLM_F_DUMP_INTR",
        "NLM_F_ROOT", "NLM_F_MATCH", "NLM_F_ATOMIC", "NLM_F_DUMP",
        "NLM_F_REPLACE", "NLM_F_EXCL", "NLM_F_CREATE", "NLM_F_APPEND",
        "NLA_F_NESTED", "NLA_F_NET_BYTEORDER",
        "GENL_ID_CTRL", "CTRL_CMD_GETFAMILY", "CTRL_ATTR_FAMILY_ID", "CTRL_ATTR_FAMILY_NAME",
    ],
    pr_nfnetlink: [
        "NFNL_SUBSYS_CTNETLINK", "NFNLGRP_CONNTRACK_NEW", "NFNLGRP_CONNTRACK_UPDATE",
        "NFNLGRP_CONNTRACK_DESTROY",
    ],
    pr_nfct: ["IPCTNL_MSG_CT_NEW", "IPCTNL_MSG_CT_GET", "IPCTNL_MSG_CT_DELETE"],
}  # fmt: skip


@pytest.mark.parametrize(("module", "name"), [
    (module, name) for module, names in FROM_PYROUTE2.items() for name in names
])  # fmt: skip
def test_our_numbers_are_pyroute2s(module, name):
    assert getattr(netlink, name) == getattr(module, name)


def test_the_type_mask_strips_exactly_the_two_flags():
    assert netlink.NLA_TYPE_MASK == 0xFFFF & ~(netlink.NLA_F_NESTED | netlink.NLA_F_NET_BYTEORDER)


# Our names -> the names /etc/protocols gives the same numbers (IANA's keywords).
PROTOCOL_KEYWORDS = {"icmpv6": "ipv6-icmp"}


@pytest.mark.parametrize(("number", "name"), sorted(netlink.IP_PROTOCOLS.items()))
def test_ip_protocol_numbers(number, name):
    constant = getattr(socket, f"IPPROTO_{name.upper()}", None)
    if constant is not None:
        assert constant == number
    else:
        try:
            assert socket.getprotobyname(PROTOCOL_KEYWORDS.get(name, name)) == number
        except OSError:
            pytest.skip(f"neither socket.IPPROTO_{name.upper()} nor /etc/protocols knows {name}")
    assert netlink.IP_PROTOCOL_NUMBERS[name] == number
    assert netlink.protocol_name(number) == name


def test_a_protocol_without_a_name_is_its_number():
    assert netlink.protocol_name(253) == "253"


# --- framing ------------------------------------------------------------------------------


def genl(cmd: int, seq: int, attrs: list, kind: int = 0x1D) -> bytes:
    """A generic netlink message encoded by pyroute2 (CTRL attributes: a name, an id)."""

    class msg(genlmsg):
        nla_map = (("UNSPEC", "none"), ("ID", "uint16"), ("NAME", "asciiz"),
                   ("NEST", "nested"))

    message = msg()
    message["cmd"], message["version"] = cmd, 1
    message["header"]["type"], message["header"]["sequence_number"] = kind, seq
    message["attrs"] = attrs
    message.encode()
    return bytes(message.data)


def test_messages_of_a_datagram_with_their_bodies():
    first = genl(3, 41, [("NAME", "abc")])  # 7 bytes of name: padded to 8
    second = genl(4, 42, [("ID", 7)])
    data = first + second
    found = list(netlink.messages(data))
    assert [(kind, seq) for kind, _flags, seq, _start, _end in found] == [(0x1D, 41), (0x1D, 42)]
    assert [(start, end) for *_head, start, end in found] == [
        (16, len(first)), (len(first) + 16, len(data))]
    # From a given offset, as the IPVS fast path hands over.
    assert list(netlink.messages(data, start=len(first))) == found[1:]


def test_a_message_that_overruns_its_datagram_comes_after_the_good_ones():
    first = genl(3, 41, [("ID", 7)])
    data = first + genl(3, 42, [("NAME", "abcdef")])
    seen = []
    with pytest.raises(netlink.Malformed,
                       match=f"netlink message at byte {len(first)} claims "
                             f"{len(data) - len(first)} bytes; the datagram has {len(data) - 4}"):
        for message in netlink.messages(data, len(data) - 4):
            seen.append(message)
    assert [seq for _k, _f, seq, _s, _e in seen] == [41]
    with pytest.raises(netlink.Malformed, match="claims 8 bytes"):
        list(netlink.messages(struct.pack("=IHHII", 8, 1, 0, 0, 0)))


def test_attributes_strip_flags_and_skip_padding():
    data = genl(3, 1, [("NAME", "nlctrl"), ("ID", 16)])
    attrs = netlink.attributes(data, 20)
    assert attrs == {2: b"nlctrl\0", 1: struct.pack("=H", 16)}
    inner = netlink.attribute(1, b"\x01\x02")  # 6 bytes and 2 of padding
    nested = netlink.attribute(3 | netlink.NLA_F_NESTED, inner)
    assert len(inner) == 8 and netlink.attributes(nested) == {3: inner}


def test_an_attribute_that_overruns_is_malformed_with_where():
    data = netlink.attribute(1, b"abcdefgh") + netlink.attribute(2, b"xyz")
    with pytest.raises(netlink.Malformed, match="attribute 2 at byte 12 claims 7 bytes; 6 are"):
        netlink.attributes(data, 0, len(data) - 2)
    with pytest.raises(netlink.Malformed, match="attribute 1 at byte 0 claims 2 bytes"):
        netlink.attributes(b"\x02\x00\x01\x00")


def test_attribute_spans_down_three_levels():
    leaf = netlink.attribute(5, b"\x0a\x00\x00\x01")
    middle = netlink.attribute(2, leaf) + netlink.attribute(3, netlink.attribute(6, b"\x07"))
    data = netlink.attribute(1 | netlink.NLA_F_NESTED, middle) + netlink.attribute(9, b"\xff")
    spans = netlink.attribute_spans(data, 0, len(data), frozenset({1}), frozenset({1}))
    assert data[slice(*spans[netlink.path(1, 2, 5)])] == b"\x0a\x00\x00\x01"
    assert data[slice(*spans[netlink.path(1, 3, 6)])] == b"\x07"
    assert data[slice(*spans[netlink.path(9)])] == b"\xff"
    once = netlink.attribute_spans(data, 0, len(data), frozenset({1}), frozenset())
    assert data[slice(*once[netlink.path(1, 2)])] == leaf
    # A leaf longer than its parent, the parents themselves whole.
    bad = netlink.attribute(1, netlink.attribute(2, struct.pack("=HH", 12, 5) + b"\x0a\0\0\x01"))
    with pytest.raises(netlink.Malformed, match="attribute 5 at byte 8 claims 12 bytes; 8 are"):
        netlink.attribute_spans(bad, 0, len(bad), frozenset({1}), frozenset({1}))


def test_error_codes():
    ack = struct.pack("=i", 0) + b"\0" * 16
    refused = struct.pack("=i", -errno.EPERM) + b"\0" * 16
    assert netlink.error_code(ack, 0, len(ack)) == 0
    assert netlink.error_code(refused, 0, len(refused)) == errno.EPERM
    assert netlink.error_code(b"", 0, 0) == 0  # a DONE without a status
    with pytest.raises(netlink.Malformed, match="2 bytes"):
        netlink.error_code(b"\0\0", 0, 2)


def test_encoding_reads_back_with_pyroute2():
    body = netlink.attribute(netlink.CTRL_ATTR_FAMILY_NAME, b"IPVS\0")
    data = netlink.genl_message(netlink.GENL_ID_CTRL, netlink.CTRL_CMD_GETFAMILY, 1,
                                netlink.NLM_F_REQUEST, 77, body)
    assert len(data) % 4 == 0
    msg = pr_netlink.ctrlmsg(data)
    msg.decode()
    assert msg["header"]["length"] == len(data)
    assert (msg["header"]["type"], msg["header"]["sequence_number"]) == (0x10, 77)
    assert msg["cmd"] == netlink.CTRL_CMD_GETFAMILY
    assert msg.get_attr("CTRL_ATTR_FAMILY_NAME") == "IPVS"


# --- the generic netlink controller of this machine's kernel ------------------------------


@pytest.fixture
def generic_socket():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, netlink.NETLINK_GENERIC)
    sock.settimeout(10)
    sock.bind((0, 0))
    yield sock
    sock.close()


def test_resolve_family_asks_the_kernel(generic_socket):
    buffer = bytearray(65536)
    # The controller names itself; its id is fixed.
    assert netlink.resolve_family(generic_socket, "nlctrl", 5, buffer) == netlink.GENL_ID_CTRL
    assert netlink.resolve_family(generic_socket, "no-such-family", 6, buffer) is None
