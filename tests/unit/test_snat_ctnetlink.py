"""lvsmon's ctnetlink decoder against pyroute2's own encoder of the same messages, and the
record built from them (SNAT detection, times, privacy)."""

import socket
import struct

import pytest
from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple, nfct_msg

from lvsmon import netlink
from lvsmon.snat import ctnetlink
from lvsmon.snat.record import merge_close, to_record

T0 = 1_800_000_000_123_456_789


def encode(kind_type, flags, family, orig, reply, **attrs) -> bytes:
    msg = nfct_msg.create_from(CTA_TUPLE_ORIG=orig, CTA_TUPLE_REPLY=reply, **attrs)
    msg["nfgen_family"] = family
    msg["header"]["type"] = kind_type
    msg["header"]["flags"] = flags
    msg.encode()
    return bytes(msg.data)


def v4(proto, saddr, daddr, sport, dport):
    return NFCTAttrTuple(family=socket.AF_INET, proto=proto, saddr=saddr, daddr=daddr,
                         sport=sport, dport=dport)


def decode_all(data: bytes):
    return [ctnetlink.decode_conntrack(data, start, end, ctnetlink.event_kind(kind, flags))
            for kind, flags, _seq, start, end in netlink.messages(data)]


def test_destroy_with_counters_and_timestamps():
    data = encode(
        ctnetlink.MSG_DELETE, 0, socket.AF_INET,
        v4(6, "192.168.1.20", "10.0.0.100", 51000, 80),
        v4(6, "10.0.1.12", "10.0.0.5", 8080, 40001),
        CTA_STATUS=0x19E, CTA_MARK=7, CTA_ID=123456, CTA_ZONE=3,
        CTA_TIMESTAMP={"attrs": [("CTA_TIMESTAMP_START", T0),
                                 ("CTA_TIMESTAMP_STOP", T0 + 2_500_000_000)]},
        CTA_COUNTERS_ORIG={"attrs": [("CTA_COUNTERS_PACKETS", 5), ("CTA_COUNTERS_BYTES", 300)]},
        CTA_COUNTERS_REPLY={"attrs": [("CTA_COUNTERS_PACKETS", 4),
                                      ("CTA_COUNTERS_BYTES", 2 ** 40)]})
    [msg] = decode_all(data)
    assert msg.kind == "destroy" and msg.family == socket.AF_INET
    assert msg.original == ctnetlink.Tuple(6, "192.168.1.20", "10.0.0.100", 51000, 80)
    assert msg.reply == ctnetlink.Tuple(6, "10.0.1.12", "10.0.0.5", 8080, 40001)
    assert (msg.status, msg.mark, msg.conntrack_id, msg.zone) == (0x19E, 7, 123456, 3)
    assert (msg.start_ns, msg.stop_ns) == (T0, T0 + 2_500_000_000)
    assert (msg.packets_orig, msg.bytes_orig, msg.packets_reply, msg.bytes_reply) == (
        5, 300, 4, 2 ** 40)
    assert msg.source_natted
    # and pyroute2 reads back what we read
    parsed = nfct_msg(data)
    parsed.decode()
    assert parsed.get_attr("CTA_ID") == msg.conntrack_id


def test_new_event_ipv6_without_accounting():
    orig = NFCTAttrTuple(family=socket.AF_INET6, proto=17, saddr="fd00:1::20",
                         daddr="2001:db8::80", sport=5353, dport=53)
    reply = NFCTAttrTuple(family=socket.AF_INET6, proto=17, saddr="2001:db8::80",
                          daddr="2001:db8::5", sport=53, dport=61000)
    data = encode(ctnetlink.MSG_NEW, NLM_F_CREATE | NLM_F_EXCL, socket.AF_INET6, orig, reply,
                  CTA_ID=9)
    [msg] = decode_all(data)
    assert msg.kind == "new"
    assert msg.original.source == "fd00:1::20" and msg.reply.destination == "2001:db8::5"
    assert msg.start_ns is None and msg.packets_orig is None
    record = to_record(msg, node="lb1", seen_ns=T0)
    assert record.family == "inet6" and record.protocol == "udp"
    assert (record.inside, record.translated) == ("[fd00:1::20]:5353", "[2001:db8::5]:61000")
    assert record.start_ns == T0 and not record.start_exact and record.end_ns is None


def test_kinds_from_flags_and_types():
    orig, reply = v4(6, "1.1.1.1", "2.2.2.2", 1, 2), v4(6, "2.2.2.2", "3.3.3.3", 2, 1)
    new = encode(ctnetlink.MSG_NEW, NLM_F_CREATE | NLM_F_EXCL, socket.AF_INET, orig, reply)
    update = encode(ctnetlink.MSG_NEW, 0, socket.AF_INET, orig, reply)
    dump = encode(ctnetlink.MSG_NEW, netlink.NLM_F_MULTI, socket.AF_INET, orig, reply)
    # several messages in one datagram, as dumps come
    assert [m.kind for m in decode_all(new + update + dump)] == ["new", "update", "dump"]


def test_unnatted_connection_is_not_a_record():
    data = encode(ctnetlink.MSG_NEW, NLM_F_CREATE, socket.AF_INET,
                  v4(6, "192.168.1.20", "10.0.0.100", 51000, 80),
                  v4(6, "10.0.0.100", "192.168.1.20", 80, 51000))
    [msg] = decode_all(data)
    assert not msg.source_natted and to_record(msg, node="n", seen_ns=T0) is None


def test_port_only_translation_counts_as_snat():
    data = encode(ctnetlink.MSG_NEW, NLM_F_CREATE, socket.AF_INET,
                  v4(17, "10.0.0.5", "10.0.1.1", 1000, 53),
                  v4(17, "10.0.1.1", "10.0.0.5", 53, 1001))
    [msg] = decode_all(data)
    assert msg.source_natted


def test_privacy_drops_destinations():
    data = encode(ctnetlink.MSG_DELETE, 0, socket.AF_INET,
                  v4(6, "192.168.1.20", "10.0.0.100", 51000, 80),
                  v4(6, "10.0.1.12", "10.0.0.5", 8080, 40001))
    [msg] = decode_all(data)
    record = to_record(msg, node="n", seen_ns=T0, record_destinations=False)
    assert record.original_destination_address is None and record.real_destination_port is None
    assert record.end_ns == T0  # no timestamp extension: when we saw the DESTROY


def test_merge_close_keeps_the_better_start():
    data = encode(ctnetlink.MSG_DELETE, 0, socket.AF_INET,
                  v4(6, "192.168.1.20", "10.0.0.100", 51000, 80),
                  v4(6, "10.0.1.12", "10.0.0.5", 8080, 40001))
    [msg] = decode_all(data)
    opened = to_record(msg._replace(kind="new"), node="n", seen_ns=T0)
    closed = to_record(msg, node="n", seen_ns=T0 + 10)
    assert merge_close(opened, closed).start_ns == T0
    exact = to_record(msg._replace(start_ns=T0 - 5), node="n", seen_ns=T0 + 10)
    assert merge_close(opened, exact).start_ns == T0 - 5


@pytest.mark.parametrize("cut", [3, 17, 30, 60])
def test_truncated_messages_are_decode_errors(cut):
    data = encode(ctnetlink.MSG_DELETE, 0, socket.AF_INET,
                  v4(6, "192.168.1.20", "10.0.0.100", 51000, 80),
                  v4(6, "10.0.1.12", "10.0.0.5", 8080, 40001))
    body = bytearray(data)
    struct.pack_into("=I", body, 0, len(data))  # header still claims the full length
    with pytest.raises(netlink.Malformed):
        decode_all(bytes(body[:-cut]))
    # The header agrees with the cut: the attributes themselves overrun their message.
    struct.pack_into("=I", body, 0, len(data) - cut)
    with pytest.raises(netlink.Malformed):
        decode_all(bytes(body[:-cut]))


def test_dump_request_shape():
    request = ctnetlink.dump_request(42)
    length, kind, flags, seq, _pid = struct.unpack_from("=IHHII", request)
    assert (length, kind, seq) == (len(request), ctnetlink.MSG_GET, 42)
    assert flags & 0x300 == 0x300  # NLM_F_DUMP
