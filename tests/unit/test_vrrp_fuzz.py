"""The decoder raises VrrpDecodeError and nothing else, whatever it is given.

A bounded hypothesis run for CI; benchmarks/vrrp_fuzz.py runs millions.
"""

import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvsmon.model import Advert
from lvsmon.vrrp import codec
from lvsmon.vrrp.codec import VrrpDecodeError

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ipv4_text = st.builds(socket.inet_ntoa, st.binary(min_size=4, max_size=4))
unicast4 = st.tuples(st.integers(1, 223), st.integers(0, 255), st.integers(0, 255)).map(
    lambda t: f"{t[0]}.{t[1]}.{t[2]}.9"
)
ipv6_text = st.binary(min_size=16, max_size=16).map(lambda b: socket.inet_ntop(socket.AF_INET6, b))
link_local6 = st.integers(1, 0xFFFF).map(lambda n: f"fe80::{n:x}")


@st.composite
def v4_adverts(draw) -> dict:
    version = draw(st.sampled_from([2, 3]))
    args = dict(
        version=version,
        vrid=draw(st.integers(1, 255)),
        priority=draw(st.integers(0, 255)),
        addresses=draw(st.lists(ipv4_text, max_size=20)),
        source=draw(unicast4),
        destination=draw(st.one_of(st.just(codec.VRRP_GROUP4), unicast4)),
    )
    if version == 2:
        args["advert_interval_centiseconds"] = 100 * draw(st.integers(1, 255))
        args["auth_type"] = draw(st.sampled_from(["none", "simple", "ah"]))
        if args["auth_type"] == "simple":
            args["auth_data"] = draw(st.binary(max_size=8))
    else:
        args["advert_interval_centiseconds"] = draw(st.integers(1, 4095))
        args["checksum_form"] = draw(
            st.sampled_from(["rfc5798", "no_pseudo_header", "keepalived_old_unicast"])
        )
    return args


@st.composite
def v6_adverts(draw) -> dict:
    return dict(
        vrid=draw(st.integers(1, 255)),
        priority=draw(st.integers(0, 255)),
        addresses=draw(st.lists(ipv6_text, max_size=10)),
        source=draw(link_local6),
        destination=draw(st.one_of(st.just(codec.VRRP_GROUP6), link_local6)),
        advert_interval_centiseconds=draw(st.integers(1, 4095)),
    )


def ipv4_packet(args: dict, ttl: int = 255) -> bytes:
    payload = codec.encode_advert(**args)
    return codec.encode_ipv4_packet(
        payload, source=args["source"], destination=args["destination"], ttl=ttl
    )


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """Flip, overwrite, cut, extend or splice a few bytes of data."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "extend", "insert", "delete"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and out:
            out[at] = draw(st.sampled_from([0, 1, 2, 3, 0x0F, 0x10, 0x21, 0x31, 0x45, 112, 0xFF]))
        elif op == "cut":
            del out[at:]
        elif op == "extend":
            out += draw(st.binary(max_size=40))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 8))]
    return bytes(out)


def decodes_or_rejects(decode, *args) -> Advert | None:
    try:
        advert = decode(*args)
    except VrrpDecodeError as err:
        assert err.reason in codec.REJECT_REASONS
        return None
    assert isinstance(advert, Advert)
    return advert


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_as_ipv4(data):
    decodes_or_rejects(codec.decode_ipv4_packet, data)


@FUZZ
@given(st.data(), v4_adverts(), st.booleans())
def test_mutated_ipv4_packets(data, args, mutate_payload_only):
    if mutate_payload_only:
        # Mutate behind a well-formed IPv4 header, so the VRRP checks are reached.
        payload = data.draw(mutated(codec.encode_advert(**args)))
        try:
            packet = codec.encode_ipv4_packet(
                payload, source=args["source"], destination=args["destination"]
            )
        except codec.VrrpEncodeError:
            return  # the mutation grew it past 65,535 bytes
    else:
        packet = data.draw(mutated(ipv4_packet(args)))
    decodes_or_rejects(codec.decode_ipv4_packet, packet)


@FUZZ
@given(
    st.data(),
    v6_adverts(),
    st.one_of(st.binary(max_size=20), ipv6_text, st.text(max_size=40)),
    st.integers(0, 255),
)
def test_mutated_ipv6_payloads(data, args, odd_address, hop_limit):
    payload = data.draw(mutated(codec.encode_advert(**args)))
    decodes_or_rejects(
        codec.decode_ipv6_payload, payload, args["source"], args["destination"], hop_limit
    )
    decodes_or_rejects(codec.decode_ipv6_payload, payload, odd_address, odd_address, hop_limit)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([socket.IPPROTO_IPV6, socket.IPPROTO_IP, 0]),
            st.sampled_from([socket.IPV6_PKTINFO, socket.IPV6_HOPLIMIT, 0]),
            st.binary(max_size=24),
        ),
        max_size=4,
    ),
    st.binary(max_size=60),
)
def test_random_ancillary_data(ancdata, payload):
    decodes_or_rejects(codec.decode_ipv6_recvmsg, payload, ancdata, ("fe80::1", 0, 0, 1))


@FUZZ
@given(v4_adverts(), st.integers(0, 255))
def test_ipv4_round_trip(args, ttl):
    advert = codec.decode_ipv4_packet(ipv4_packet(args, ttl))
    assert advert.version == args["version"]
    assert (advert.vrid, advert.priority) == (args["vrid"], args["priority"])
    assert advert.addresses == tuple(args["addresses"])
    assert advert.advert_interval_centiseconds == args["advert_interval_centiseconds"]
    assert (advert.source, advert.destination, advert.ttl) == (
        args["source"],
        args["destination"],
        ttl,
    )
    assert advert.checksum_form == expected_form(args)
    if args["version"] == 2:
        assert advert.auth_type == args["auth_type"]


def expected_form(args: dict) -> str:
    """The first form, in the decoder's order, whose checksum is the one sent.

    Forms collide where the pseudo-headers sum alike: always for multicast
    (keepalived's old form is then RFC 5798's), rarely by chance.
    """
    if args["version"] == 2:
        return "rfc3768"
    sent = codec.encode_advert(**args)
    for form in ("rfc5798", "no_pseudo_header", "keepalived_old_unicast"):
        if codec.encode_advert(**(args | {"checksum_form": form})) == sent:
            return form
    raise AssertionError("no form matches")


@FUZZ
@given(v6_adverts(), st.integers(0, 255))
def test_ipv6_round_trip(args, hop_limit):
    payload = codec.encode_advert(**args)
    advert = codec.decode_ipv6_payload(payload, args["source"], args["destination"], hop_limit)
    assert (advert.vrid, advert.priority) == (args["vrid"], args["priority"])
    assert advert.addresses == tuple(args["addresses"])
    assert advert.advert_interval_centiseconds == args["advert_interval_centiseconds"]
    assert advert.checksum_form == "rfc5798"
