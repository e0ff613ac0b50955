"""AgentX PDU codec: round trips in both byte orders, the wire format itself, hostile input."""

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvsmon_snmp.agentx import codec
from lvsmon_snmp.agentx.codec import (
    AgentxDecodeError,
    Framer,
    GetNext,
    Open,
    Register,
    Response,
    SearchRange,
    VarBind,
    decode,
    encode,
)
from lvsmon_snmp.agentx.values import Value, ValueType

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u32 = st.integers(0, 2**32 - 1)
subid = st.one_of(st.integers(0, 300), u32)
oids = st.one_of(
    st.lists(subid, min_size=1, max_size=128).map(tuple),
    st.tuples(st.just((1, 3, 6, 1)), st.integers(0, 300), st.lists(subid, max_size=123)).map(
        lambda t: t[0] + (t[1],) + tuple(t[2])),  # often under the internet prefix
)
maybe_null_oids = st.one_of(st.just(()), oids)
octets = st.binary(max_size=40)
contexts = st.one_of(st.none(), octets)

values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(Value.integer32),
    st.binary(max_size=70).map(Value.octet_string),
    st.just(Value.null()),
    oids.map(Value.object_identifier),
    st.binary(min_size=4, max_size=4).map(Value.ip_address),
    u32.map(Value.counter32),
    u32.map(Value.gauge32),
    u32.map(Value.time_ticks),
    st.binary(max_size=20).map(Value.opaque),
    st.integers(0, 2**64 - 1).map(Value.counter64),
    st.sampled_from([Value(ValueType.NO_SUCH_OBJECT), Value(ValueType.NO_SUCH_INSTANCE),
                     Value(ValueType.END_OF_MIB_VIEW)]),
)
varbinds = st.lists(st.builds(VarBind, oids, values), max_size=6).map(tuple)
ranges = st.lists(st.builds(SearchRange, oids, maybe_null_oids, st.booleans()),
                  max_size=6).map(tuple)
ids = {"session_id": u32, "transaction_id": u32, "packet_id": u32}


@st.composite
def registrations(draw, cls):
    subtree = draw(oids)
    range_subid = draw(st.integers(0, len(subtree)))
    fields = dict(subtree=subtree, priority=draw(st.integers(0, 255)), range_subid=range_subid,
                  upper_bound=draw(u32) if range_subid else 0, context=draw(contexts))
    if cls is codec.Register:
        fields.update(timeout=draw(st.integers(0, 255)), instance=draw(st.booleans()))
    return cls(**fields, **{key: draw(strategy) for key, strategy in ids.items()})


def pdu_of(cls, **fields):
    return st.builds(cls, **fields, **ids)


pdus = st.one_of(
    pdu_of(codec.Open, timeout=st.integers(0, 255), id=maybe_null_oids, description=octets),
    pdu_of(codec.Close, reason=st.integers(0, 255)),
    registrations(codec.Register),
    registrations(codec.Unregister),
    pdu_of(codec.Get, context=contexts, ranges=ranges),
    pdu_of(codec.GetNext, context=contexts, ranges=ranges),
    pdu_of(codec.GetBulk, context=contexts, non_repeaters=st.integers(0, 65535),
           max_repetitions=st.integers(0, 65535), ranges=ranges),
    pdu_of(codec.TestSet, context=contexts, varbinds=varbinds),
    pdu_of(codec.CommitSet),
    pdu_of(codec.UndoSet),
    pdu_of(codec.CleanupSet),
    pdu_of(codec.Notify, context=contexts, varbinds=varbinds),
    pdu_of(codec.Ping, context=contexts),
    pdu_of(codec.IndexAllocate, context=contexts, varbinds=varbinds, new_index=st.booleans(),
           any_index=st.booleans()),
    pdu_of(codec.IndexDeallocate, context=contexts, varbinds=varbinds, new_index=st.booleans(),
           any_index=st.booleans()),
    pdu_of(codec.AddAgentCaps, context=contexts, id=oids, description=octets),
    pdu_of(codec.RemoveAgentCaps, context=contexts, id=oids),
    pdu_of(codec.Response, sys_uptime=u32, error=st.integers(0, 65535),
           index=st.integers(0, 65535), varbinds=varbinds),
)


@FUZZ
@given(pdus, st.booleans())
def test_every_pdu_round_trips_in_both_byte_orders(pdu, network_order):
    data = encode(pdu, network_byte_order=network_order)
    assert len(data) % 4 == 0
    assert bool(data[2] & codec.Flag.NETWORK_BYTE_ORDER) == network_order
    assert decode(data) == pdu


def test_every_pdu_type_is_covered():
    assert set(codec.PDU_CLASSES) == set(codec.PduType)
    assert len(codec.PDU_CLASSES) == 18


# -- the wire format, byte by byte --------------------------------------------


def test_header_and_open_in_network_order():
    pdu = Open(session_id=0, transaction_id=2, packet_id=3, timeout=5, id=(1, 3, 6, 1, 4, 1, 9),
               description=b"lvsmon")
    data = encode(pdu)
    assert data[:4] == bytes([1, 1, 0x10, 0])  # version 1, Open, NETWORK_BYTE_ORDER
    assert struct.unpack(">III I", data[4:20]) == (0, 2, 3, len(data) - 20)
    payload = data[20:]
    assert payload[:4] == bytes([5, 0, 0, 0])  # o.timeout + reserved
    # OID 1.3.6.1.4.1.9: prefix 4 compressed, n_subid 2, include 0
    assert payload[4:8] == bytes([2, 4, 0, 0])
    assert struct.unpack(">II", payload[8:16]) == (1, 9)
    assert struct.unpack(">I", payload[16:20]) == (6,)
    assert payload[20:28] == b"lvsmon\0\0"  # padded to 4


def test_little_endian_fields_and_decode_honours_the_flag():
    pdu = GetNext(session_id=0x01020304, packet_id=9,
                  ranges=(SearchRange((1, 3, 6, 1, 2, 1, 1), (1, 3, 6, 1, 2, 1, 2), True),))
    little = encode(pdu, network_byte_order=False)
    assert little[2] & codec.Flag.NETWORK_BYTE_ORDER == 0
    assert little[4:8] == bytes([4, 3, 2, 1])
    # start: n_subid 2, prefix 2, include 1; end: include 0
    assert little[20:24] == bytes([2, 2, 1, 0])
    assert little[24:32] == bytes([1, 0, 0, 0, 1, 0, 0, 0])
    assert decode(little) == pdu == decode(encode(pdu))


def test_prefix_compression_only_for_internet_1_to_255():
    cases = {
        (1, 3, 6, 1, 4): bytes([0, 4, 0, 0]),  # all prefix, no sub-identifiers
        (1, 3, 6, 1, 0, 5): bytes([6, 0, 0, 0]),  # prefix 0 means none: sent in full
        (1, 3, 6, 1, 256, 5): bytes([6, 0, 0, 0]),
        (1, 3, 6, 2, 4, 5): bytes([6, 0, 0, 0]),
        (1, 3, 6, 1): bytes([4, 0, 0, 0]),
    }
    for oid, head in cases.items():
        data = encode(Register(subtree=oid))
        assert data[24:28] == head, oid
        assert decode(data).subtree == oid


def test_null_oid_and_range_end():
    pdu = GetNext(ranges=(SearchRange((1, 3, 6, 1, 2)),))
    data = encode(pdu)
    assert data[-4:] == bytes(4)  # null end: n_subid 0, prefix 0
    assert decode(data).ranges[0].end == ()


def test_non_default_context_flag_and_position():
    pdu = codec.Get(context=b"vrf1", ranges=(SearchRange((1, 3, 6, 1, 2, 1)),))
    data = encode(pdu)
    assert data[2] & codec.Flag.NON_DEFAULT_CONTEXT
    assert data[20:28] == struct.pack(">I", 4) + b"vrf1"  # the context comes first
    assert decode(data).context == b"vrf1"
    assert not encode(codec.Get(ranges=()))[2] & codec.Flag.NON_DEFAULT_CONTEXT


def test_register_range_and_flags():
    pdu = Register(subtree=(1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7), range_subid=10, upper_bound=22,
                   priority=127, timeout=3, instance=True)
    data = encode(pdu)
    assert data[2] & codec.Flag.INSTANCE_REGISTRATION
    assert data[20:24] == bytes([3, 127, 10, 0])
    assert struct.unpack(">I", data[-4:]) == (22,)
    assert decode(data) == pdu
    with pytest.raises(codec.AgentxEncodeError):
        encode(Register(subtree=(1, 2), range_subid=3))


@pytest.mark.parametrize(("value", "payload"), [
    (Value.integer32(-2), struct.pack(">i", -2)),
    (Value.counter32(7), struct.pack(">I", 7)),
    (Value.gauge32(8), struct.pack(">I", 8)),
    (Value.time_ticks(9), struct.pack(">I", 9)),
    (Value.counter64(2**64 - 1), struct.pack(">Q", 2**64 - 1)),
    (Value.octet_string(b"abcde"), struct.pack(">I", 5) + b"abcde\0\0\0"),
    (Value.opaque(b"\x01"), struct.pack(">I", 1) + b"\x01\0\0\0"),
    (Value.ip_address("192.0.2.1"), struct.pack(">I", 4) + bytes([192, 0, 2, 1])),
    (Value.object_identifier("1.3.6.1.6.3"), bytes([1, 6, 0, 0]) + struct.pack(">I", 3)),
    (Value.null(), b""),
    (Value(ValueType.NO_SUCH_OBJECT), b""),
    (Value(ValueType.NO_SUCH_INSTANCE), b""),
    (Value(ValueType.END_OF_MIB_VIEW), b""),
])  # fmt: skip
def test_every_value_type_on_the_wire(value, payload):
    pdu = Response(varbinds=(VarBind((1, 3, 6, 1, 4, 1, 1), value),))
    data = encode(pdu)
    body = data[28:]  # after header and res fields
    assert struct.unpack(">H", body[:2]) == (value.type,)
    assert body[4:8] == bytes([2, 4, 0, 0])  # name 1.3.6.1.4.1.1 compressed
    assert body[16:] == payload
    assert decode(data) == pdu


def test_null_oid_value_reads_as_zero_dot_zero():
    data = bytearray(encode(Response(varbinds=(VarBind((1, 3, 6, 1, 2), Value.object_identifier(
        (0, 0))),))))
    value_at = 20 + 8 + 4 + 4  # header, res, vb type, name (prefix only)
    data[value_at:value_at + 12] = bytes(4) + bytes(8)  # a null OID, then 8 bytes to drop
    data = data[:value_at + 4]
    data[16:20] = struct.pack(">I", len(data) - 20)
    assert decode(bytes(data)).varbinds[0].value == Value.object_identifier((0, 0))


def test_error_names():
    assert codec.error_name(263) == "duplicateRegistration"
    assert codec.error_name(17) == "notWritable"
    assert codec.error_name(0) == "noError"
    assert codec.error_name(999) == "error999"


# -- hostile and broken input ---------------------------------------------------


def header(pdu_type=codec.PduType.RESPONSE, payload_length=0, flags=0x10, version=1):
    return struct.pack(">BBBxIIII", version, pdu_type, flags, 1, 2, 3, payload_length)


def reason_of(data: bytes) -> str:
    with pytest.raises(AgentxDecodeError) as caught:
        decode(data)
    assert caught.value.reason in codec.DECODE_REASONS
    return caught.value.reason


def test_header_checks():
    assert reason_of(header()[:19]) == "truncated"
    assert reason_of(header(version=2)) == "bad_version"
    assert reason_of(header(pdu_type=0)) == "unknown_type"
    assert reason_of(header(pdu_type=19)) == "unknown_type"
    assert reason_of(header(payload_length=2**32 - 4)) == "payload_too_large"
    assert reason_of(header(payload_length=6) + bytes(6)) == "bad_payload_length"
    assert reason_of(header(payload_length=8) + bytes(4)) == "truncated"
    assert reason_of(header(payload_length=8) + bytes(12)) == "trailing_bytes"


def test_hostile_lengths_inside_the_payload():
    # An octet string claiming 4 GiB: refused without allocating it.
    body = struct.pack(">IHH", 0, 0, 0) + struct.pack(">HH", 4, 0) + bytes([1, 2, 0, 0]) + \
        struct.pack(">I", 1) + struct.pack(">I", 0xFFFFFFF0)
    assert reason_of(header(payload_length=len(body)) + body) == "truncated"
    # An OID claiming 255 sub-identifiers.
    body = bytes([255, 0, 0, 0]) + bytes(8)
    assert reason_of(header(codec.PduType.GET, len(body)) + body) == "oid_too_long"
    # 124 sub-identifiers plus the 5 of a prefix make 129.
    body = bytes([124, 4, 0, 0]) + bytes(4 * 124) + bytes(4)
    assert reason_of(header(codec.PduType.GET, len(body)) + body) == "oid_too_long"
    # A varbind of an unknown type.
    body = struct.pack(">IHH", 0, 0, 0) + struct.pack(">HH", 99, 0) + bytes(4)
    assert reason_of(header(payload_length=len(body)) + body) == "unknown_value_type"
    # IpAddress of 5 bytes; an octet string over 65535 bytes.
    body = struct.pack(">IHH", 0, 0, 0) + struct.pack(">HH", 64, 0) + bytes(4) + \
        struct.pack(">I", 5) + bytes(8)
    assert reason_of(header(payload_length=len(body)) + body) == "bad_value"
    body = struct.pack(">IHH", 0, 0, 0) + struct.pack(">HH", 4, 0) + bytes(4) + \
        struct.pack(">I", 65536) + bytes(65536)
    assert reason_of(header(payload_length=len(body)) + body) == "bad_value"
    # A range past the subtree.
    body = bytes([0, 9, 8, 0]) + bytes([2, 4, 0, 0]) + bytes(8) + bytes(4)  # 7 sub-ids
    assert reason_of(header(codec.PduType.REGISTER, len(body)) + body) == "bad_range"


def test_huge_counts_are_refused():
    body = bytes(8) * (codec.MAX_ITEMS + 1)  # null SearchRanges, 8 bytes each
    assert reason_of(header(codec.PduType.GET_NEXT, len(body)) + body) == "too_many_items"


def test_payload_limit_is_checked_from_the_header_alone():
    framer = Framer(max_payload=1024)
    framer.feed(header(payload_length=2048))
    with pytest.raises(AgentxDecodeError) as caught:
        framer.next_pdu()
    assert caught.value.reason == "payload_too_large"


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_errors(data):
    try:
        decode(data)
    except AgentxDecodeError as exc:
        assert exc.reason in codec.DECODE_REASONS


@FUZZ
@given(pdus, st.integers(0, 2**16), st.binary(min_size=1, max_size=8))
def test_damaged_pdus_raise_only_decode_errors(pdu, where, garbage):
    data = bytearray(encode(pdu))
    where %= len(data)
    data[where:where + len(garbage)] = garbage
    try:
        decode(bytes(data))
    except AgentxDecodeError as exc:
        assert exc.reason in codec.DECODE_REASONS


@FUZZ
@given(pdus, st.integers(1, 2**16))
def test_truncated_pdus_are_refused(pdu, cut):
    data = encode(pdu)
    cut = 1 + cut % len(data)
    if cut == len(data):
        return
    assert reason_of(data[:-cut]) in ("truncated", "bad_payload_length")


# -- framing --------------------------------------------------------------------


@FUZZ
@given(st.lists(pdus, min_size=1, max_size=5), st.lists(st.integers(1, 64), max_size=40))
def test_framer_reassembles_pdus_split_anywhere(sent, cuts):
    stream = b"".join(encode(pdu, network_byte_order=i % 2 == 0) for i, pdu in enumerate(sent))
    framer = Framer()
    received, position = [], 0
    for size in [*cuts, len(stream)]:
        framer.feed(stream[position:position + size])
        position += size
        while (pdu := framer.next_pdu()) is not None:
            received.append(pdu)
    assert received == sent
    assert framer.buffered == 0


def test_framer_refuses_a_bad_header_before_its_payload_arrives():
    framer = Framer()
    framer.feed(header(version=7)[:20])
    with pytest.raises(AgentxDecodeError) as caught:
        framer.next_pdu()
    assert caught.value.reason == "bad_version"


@FUZZ
@given(varbinds, u32, u32, u32, st.integers(0, 65535), st.integers(0, 65535))
def test_answer_fast_path_equals_encode(varbinds, session, transaction, packet, error, index):
    fast = codec.encode_response(session_id=session, transaction_id=transaction,
                                 packet_id=packet, error=error, index=index,
                                 varbinds=b"".join(codec.encode_varbind(vb) for vb in varbinds))
    assert fast == encode(Response(session_id=session, transaction_id=transaction,
                                   packet_id=packet, error=error, index=index,
                                   varbinds=varbinds))


# -- the walk's GetNext, read without decode() ----------------------------------------


def single(data: bytes):
    return codec.single_get_next(data, len(data))


def as_decoded(data: bytes):
    """What single_get_next must say of `data`, by the full decoder."""
    try:
        pdu = decode(data)
    except AgentxDecodeError:
        return None
    if (type(pdu) is not GetNext or pdu.context is not None or len(pdu.ranges) != 1
            or not data[2] & codec.Flag.NETWORK_BYTE_ORDER):
        return None
    (search,) = pdu.ranges
    return (pdu.session_id, pdu.transaction_id, pdu.packet_id, search.start, search.include,
            search.end)


def walk_step(start=(1, 3, 6, 1, 4, 1, 8072, 9), end=(), include=False, **fields) -> GetNext:
    return GetNext(session_id=7, transaction_id=8, packet_id=9,
                   ranges=(SearchRange(start, end, include),), **fields)


MAX = 2**32 - 1


@FUZZ
@given(u32, u32, u32, maybe_null_oids, st.booleans(), maybe_null_oids)
def test_single_get_next_reads_what_decode_reads(session, transaction, packet, start, include,
                                                   end):
    data = encode(GetNext(session_id=session, transaction_id=transaction, packet_id=packet,
                          ranges=(SearchRange(start, end, include),)))
    assert single(data) == as_decoded(data) == (session, transaction, packet, start, include,
                                                 end)


@pytest.mark.parametrize(("start", "end"), [
    ((), ()),
    ((1, 3, 6, 1, 4), (1, 3, 6, 1, 5)),  # prefix only: no sub-identifiers on the wire
    ((1, 3, 6, 1, 255, 1), (1, 3, 6, 1, 0, 1)),  # compressed / prefix 0 sent in full
    ((MAX,) * 128, ()),
    ((), (MAX,) * 128),
    ((1, 3, 6, 1, 4) + (MAX,) * 123, (1, 3, 6, 1, 4) + (MAX,) * 123),  # 128 with the prefix
    ((1, 3, 6, 1, 256) + (0,) * 123, (2,) * 128),
])  # fmt: skip
@pytest.mark.parametrize("include", [False, True])
def test_single_get_next_at_the_limits(start, end, include):
    data = encode(walk_step(start, end, include))
    assert single(data) == as_decoded(data) == (7, 8, 9, start, include, end)


def with_header(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    changed = bytearray(data)
    struct.pack_into(fmt, changed, offset, value)
    return bytes(changed)


STEP = encode(walk_step(end=(1, 3, 6, 1, 4, 1, 8072, 10)))
END_AT = 20 + 4 + 4 * 3  # the end OID's head: after the start (prefix 4, 3 sub-identifiers)


@pytest.mark.parametrize("data", [
    encode(GetNext(ranges=(SearchRange((1, 3, 6, 1, 2)),) * 2)),
    encode(GetNext(ranges=())),
    encode(walk_step(), network_byte_order=False),
    encode(walk_step(context=b"vrf1")),
    encode(walk_step(context=b"")),
    encode(codec.Get(ranges=walk_step().ranges)),
    encode(codec.GetBulk(max_repetitions=10, ranges=walk_step().ranges)),
    encode(Response(varbinds=(VarBind((1, 3, 6, 1, 2), Value.null()),))),
    encode(codec.Ping()),
    encode(Open(id=(1, 3, 6, 1, 4), description=b"lvsmon")),
    with_header(STEP, 0, ">B", 2),  # version 2
    with_header(STEP, 2, ">B", 0),  # network order bytes, flagged as host order
    with_header(STEP, 2, ">B", 0x18),  # non-default context flagged, none in the payload
    with_header(STEP, 16, ">I", len(STEP) - 20 + 4),  # payload length says more
    with_header(STEP, 16, ">I", len(STEP) - 20 - 4),  # ... or less
    with_header(STEP, 20, ">B", 4),  # a start of 4 sub-identifiers: the end's head read as one
    with_header(STEP, END_AT, ">B", 1),  # an end of 1 sub-identifier, 3 present
    STEP + STEP,  # two PDUs in one read
    STEP[:-4],  # truncated
    STEP[:27],
    STEP[:20],
    b"",
])  # fmt: skip
def test_single_get_next_refuses_anything_else(data):
    assert single(data) is None


def oid_head(count: int, prefix: int = 0) -> bytes:
    return bytes([count, prefix, 0, 0]) + bytes(4 * count)


@pytest.mark.parametrize(("start", "end"), [
    (oid_head(129), oid_head(0)),
    (oid_head(124, prefix=4), oid_head(0)),  # 124 + the prefix's 5 make 129
    (oid_head(0), oid_head(129)),
    (oid_head(0), oid_head(124, prefix=4)),
])
def test_single_get_next_refuses_oids_over_128(start, end):
    body = start + end
    data = header(codec.PduType.GET_NEXT, len(body)) + body
    assert reason_of(data) == "oid_too_long"
    assert single(data) is None
    fits = header(codec.PduType.GET_NEXT, 4 + 4 * 128 + 4) + oid_head(128) + oid_head(0)
    assert single(fits) == (1, 2, 3, (0,) * 128, False, ())


def test_single_get_next_reads_only_size_bytes_of_a_larger_buffer():
    buffer = bytearray(random.Random(3).randbytes(64 * 1024))
    buffer[:len(STEP)] = STEP
    view = memoryview(buffer)
    expected = (7, 8, 9, (1, 3, 6, 1, 4, 1, 8072, 9), False, (1, 3, 6, 1, 4, 1, 8072, 10))
    assert codec.single_get_next(view, len(STEP)) == expected
    buffer[len(STEP):2 * len(STEP)] = STEP  # a second PDU after it: still the first alone
    assert codec.single_get_next(view, len(STEP)) == expected
    assert codec.single_get_next(view, 2 * len(STEP)) is None
    assert codec.single_get_next(view, len(STEP) - 4) is None
    assert codec.single_get_next(view, len(STEP) + 4) is None


@FUZZ
@given(st.binary(max_size=300))
def test_single_get_next_on_random_bytes_is_none_or_what_decode_reads(data):
    assert single(data) == as_decoded(data)


@FUZZ
@given(maybe_null_oids, maybe_null_oids, st.booleans(), st.integers(0, 2**16),
       st.binary(min_size=1, max_size=8), st.integers(-8, 8))
def test_single_get_next_on_damaged_steps_is_none_or_what_decode_reads(start, end, include, where,
                                                             garbage, resize):
    data = bytearray(encode(walk_step(start, end, include)))
    where %= len(data)
    data[where:where + len(garbage)] = garbage
    data = bytes(data[:len(data) + resize] if resize < 0 else data + bytes(resize))
    assert single(data) == as_decoded(data)
