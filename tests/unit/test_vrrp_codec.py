"""The VRRP codec against packets laid out by hand from RFC 3768 / RFC 5798.

Checksums here come from the classic RFC 1071 word-by-word fold, not from
lvsmon.vrrp.checksum, so a shared mistake cannot hide.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from lvsmon.errors import LvsmonError
from lvsmon.model import Advert
from lvsmon.vrrp import codec
from lvsmon.vrrp.codec import VrrpDecodeError, VrrpEncodeError
from lvsmon.vrrp.stats import DecodeStats


def inet_checksum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip4(text: str) -> bytes:
    return socket.inet_aton(text)


def ip6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def with_checksum(message: bytes, pseudo: bytes = b"") -> bytes:
    value = inet_checksum(pseudo + message)
    return message[:6] + struct.pack("!H", value) + message[8:]


def pseudo4(src: str, dst: str, length: int) -> bytes:
    return ip4(src) + ip4(dst) + bytes([0, 112]) + struct.pack("!H", length)


def pseudo6(src: str, dst: str, length: int) -> bytes:
    return ip6(src) + ip6(dst) + struct.pack("!I", length) + bytes([0, 0, 0, 112])


def ipv4_packet(payload: bytes, src: str, dst: str, ttl: int = 255, protocol: int = 112) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, ttl, protocol, 0, ip4(src), ip4(dst)
    )
    header = header[:10] + struct.pack("!H", inet_checksum(header)) + header[12:]
    return header + payload


# VRRPv2, VRID 51, priority 150, 2 addresses, auth type 1 "secret", 1 s.
V2_MESSAGE = with_checksum(
    bytes([0x21, 51, 150, 2, 1, 1, 0, 0])
    + ip4("192.168.1.100")
    + ip4("192.168.1.101")
    + b"secret\0\0"
)
# VRRPv3 over IPv4, VRID 7, priority 100, one address, 100 cs.
V3_FIELDS = bytes([0x31, 7, 100, 1]) + struct.pack("!HH", 100, 0) + ip4("10.0.0.100")
V3_MULTICAST = with_checksum(V3_FIELDS, pseudo4("10.0.0.1", "224.0.0.18", 12))
# VRRPv3 over IPv6, VRID 9, priority 255, two addresses, 25 cs.
V3_IPV6 = with_checksum(
    bytes([0x31, 9, 255, 2]) + struct.pack("!HH", 25, 0) + ip6("fe80::1") + ip6("2001:db8::1"),
    pseudo6("fe80::a", "ff02::12", 40),
)


# -- known vectors -------------------------------------------------------------


def test_v2_vector_decodes():
    advert = codec.decode_ipv4_packet(ipv4_packet(V2_MESSAGE, "192.168.1.2", "224.0.0.18"))
    assert advert == Advert(
        version=2,
        vrid=51,
        priority=150,
        addresses=("192.168.1.100", "192.168.1.101"),
        family="inet",
        advert_interval_centiseconds=100,
        source="192.168.1.2",
        destination="224.0.0.18",
        ttl=255,
        checksum=struct.unpack("!H", V2_MESSAGE[6:8])[0],
        checksum_form="rfc3768",
        auth_type="simple",
        auth_data=b"secret\0\0",
    )
    assert advert.password == "secret"
    assert advert.advert_interval_seconds == 1.0
    assert advert.ttl_ok and advert.checksum_ok and advert.anomalies == ()


def test_v2_vector_encodes_byte_for_byte():
    assert (
        codec.encode_advert(
            version=2,
            vrid=51,
            priority=150,
            addresses=["192.168.1.100", "192.168.1.101"],
            source="192.168.1.2",
            auth_type="simple",
            auth_data="secret",
        )
        == V2_MESSAGE
    )


def test_v3_ipv4_vector():
    assert (
        codec.encode_advert(vrid=7, priority=100, addresses=["10.0.0.100"], source="10.0.0.1")
        == V3_MULTICAST
    )
    advert = codec.decode_ipv4_packet(ipv4_packet(V3_MULTICAST, "10.0.0.1", "224.0.0.18"))
    assert (advert.version, advert.vrid, advert.priority) == (3, 7, 100)
    assert advert.addresses == ("10.0.0.100",)
    assert advert.advert_interval_seconds == 1.0
    assert advert.auth_type is None and advert.auth_data == b""
    assert advert.checksum_form == "rfc5798"


def test_v3_ipv6_vector():
    assert (
        codec.encode_advert(
            vrid=9,
            priority=255,
            addresses=["fe80::1", "2001:db8::1"],
            source="fe80::a",
            advert_interval_centiseconds=25,
        )
        == V3_IPV6
    )
    advert = codec.decode_ipv6_payload(V3_IPV6, "fe80::a%veth0", "ff02::12", 255)
    assert advert.family == "inet6"
    assert advert.source == "fe80::a" and advert.destination == "ff02::12"
    assert advert.addresses == ("fe80::1", "2001:db8::1")
    assert advert.advert_interval_centiseconds == 25
    assert advert.advert_interval_seconds == 0.25
    assert advert.checksum_form == "rfc5798"


def test_v3_reserved_bits_are_ignored():
    fields = bytes([0x31, 7, 100, 1]) + struct.pack("!HH", 0xF000 | 300, 0) + ip4("10.0.0.100")
    message = with_checksum(fields, pseudo4("10.0.0.1", "224.0.0.18", 12))
    advert = codec.decode_ipv4_packet(ipv4_packet(message, "10.0.0.1", "224.0.0.18"))
    assert advert.advert_interval_centiseconds == 300


# -- round trips ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(version=2, addresses=["10.1.1.1"], advert_interval_centiseconds=300),
        dict(version=2, addresses=["10.1.1.1", "10.1.1.2"], auth_type="simple", auth_data="pw"),
        dict(version=2, addresses=["10.1.1.1"], auth_type="ah"),
        dict(version=2, addresses=[]),
        dict(version=3, addresses=["10.1.1.1", "10.1.1.2", "10.1.1.3"]),
        dict(version=3, addresses=["10.1.1.1"], advert_interval_centiseconds=4095),
    ],
)
def test_ipv4_round_trip(kwargs):
    payload = codec.encode_advert(vrid=200, priority=0, source="10.1.1.9", **kwargs)
    advert = codec.decode_ipv4_packet(codec.encode_ipv4_packet(payload, source="10.1.1.9"))
    assert advert.version == kwargs["version"]
    assert (advert.vrid, advert.priority, advert.source) == (200, 0, "10.1.1.9")
    assert advert.addresses == tuple(kwargs["addresses"])
    assert advert.advert_interval_centiseconds == kwargs.get("advert_interval_centiseconds", 100)
    assert advert.checksum_ok and advert.ttl_ok
    if kwargs["version"] == 2:
        assert advert.auth_type == kwargs.get("auth_type", "none")
        assert advert.auth_data == kwargs.get("auth_data", "").encode().ljust(8, b"\0")


@pytest.mark.parametrize("destination", [None, "fe80::2", "2001:db8::2"])
def test_ipv6_round_trip(destination):
    addresses = [f"2001:db8::{n:x}" for n in range(1, 20)]
    payload = codec.encode_advert(
        vrid=1, priority=254, addresses=addresses, source="fe80::1", destination=destination
    )
    advert = codec.decode_ipv6_payload(payload, "fe80::1", destination or "ff02::12", 255)
    assert advert.addresses == tuple(addresses)
    assert advert.destination == (destination or "ff02::12")
    assert advert.checksum_form == "rfc5798"


def test_ipv4_header_checksum_matches_independent_fold():
    payload = codec.encode_advert(vrid=1, priority=1, addresses=["10.0.0.5"], source="10.0.0.1")
    packet = codec.encode_ipv4_packet(payload, source="10.0.0.1", ttl=7, identification=0x1234)
    assert (
        packet
        == ipv4_packet(payload, "10.0.0.1", "224.0.0.18", ttl=7)[:4] + b"\x12\x34" + (packet[6:])
    )
    assert inet_checksum(packet[:20]) == 0


# -- checksum forms --------------------------------------------------------------


def unicast_v3(pseudo: bytes) -> bytes:
    return ipv4_packet(with_checksum(V3_FIELDS, pseudo), "10.0.0.1", "10.0.0.2")


@pytest.mark.parametrize(
    "pseudo, form",
    [
        (pseudo4("10.0.0.1", "10.0.0.2", 12), "rfc5798"),
        (b"", "no_pseudo_header"),
        (pseudo4("10.0.0.1", "224.0.0.18", 12), "keepalived_old_unicast"),
    ],
)
def test_v3_ipv4_checksum_forms_detected(pseudo, form):
    advert = codec.decode_ipv4_packet(unicast_v3(pseudo))
    assert advert.checksum_form == form
    assert advert.checksum_ok and advert.anomalies == ()


@pytest.mark.parametrize("form", ["rfc5798", "no_pseudo_header", "keepalived_old_unicast"])
def test_v3_ipv4_checksum_forms_encoded(form):
    payload = codec.encode_advert(
        vrid=7,
        priority=100,
        addresses=["10.0.0.100"],
        source="10.0.0.1",
        destination="10.0.0.2",
        checksum_form=form,
    )
    assert codec.decode_ipv4_packet(ipv4_packet(payload, "10.0.0.1", "10.0.0.2")).checksum_form == (
        form
    )


def test_v3_multicast_without_pseudo_header():
    packet = ipv4_packet(with_checksum(V3_FIELDS), "10.0.0.1", "224.0.0.18")
    assert codec.decode_ipv4_packet(packet).checksum_form == "no_pseudo_header"


def test_bad_checksums_are_reported_not_rejected():
    broken_v2 = V2_MESSAGE[:6] + b"\xde\xad" + V2_MESSAGE[8:]
    advert = codec.decode_ipv4_packet(ipv4_packet(broken_v2, "192.168.1.2", "224.0.0.18"))
    assert advert.checksum_form is None and advert.checksum == 0xDEAD
    assert advert.anomalies == ("bad_checksum",)
    # A v2 checksum taken over a pseudo-header is wrong for v2.
    v2_pseudo = with_checksum(V2_MESSAGE, pseudo4("192.168.1.2", "224.0.0.18", len(V2_MESSAGE)))
    assert not codec.decode_ipv4_packet(
        ipv4_packet(v2_pseudo, "192.168.1.2", "224.0.0.18")
    ).checksum_ok
    # The IPv6 pseudo-header is mandatory: the no-pseudo-header form does not count there.
    plain6 = with_checksum(V3_IPV6[:6] + b"\0\0" + V3_IPV6[8:])
    assert codec.decode_ipv6_payload(plain6, "fe80::a", "ff02::12", 255).checksum_form is None
    # A v6 advert checked against another source address fails.
    assert not codec.decode_ipv6_payload(V3_IPV6, "fe80::b", "ff02::12", 255).checksum_ok


def test_ttl_not_255_is_reported_not_rejected():
    advert = codec.decode_ipv4_packet(ipv4_packet(V3_MULTICAST, "10.0.0.1", "224.0.0.18", ttl=1))
    assert advert.ttl == 1 and not advert.ttl_ok and advert.anomalies == ("bad_ttl",)
    advert = codec.decode_ipv6_payload(V3_IPV6, "fe80::a", "ff02::12", 64)
    assert advert.anomalies == ("bad_ttl",)


def test_deprecated_ah_in_front_of_vrrp():
    message = with_checksum(bytes([0x21, 51, 100, 1, 2, 1, 0, 0]) + ip4("192.168.1.100") + bytes(8))
    # AH: next header 112, length 4 (24 bytes), reserved, SPI, sequence, 12-byte ICV.
    ah = struct.pack("!BBHII", 112, 4, 0, 0x100, 7) + bytes(12)
    advert = codec.decode_ipv4_packet(
        ipv4_packet(ah + message, "192.168.1.2", "224.0.0.18", protocol=51)
    )
    assert advert.auth_type == "ah" and advert.checksum_ok
    # An AH header that does not carry VRRP is not ours.
    other = struct.pack("!BBHII", 6, 4, 0, 0x100, 7) + bytes(12)
    with pytest.raises(VrrpDecodeError) as info:
        codec.decode_ipv4_packet(
            ipv4_packet(other + message, "192.168.1.2", "224.0.0.18", protocol=51)
        )
    assert info.value.reason == "not_vrrp"


def test_unknown_v2_auth_type_is_named():
    message = with_checksum(bytes([0x21, 1, 100, 1, 9, 1, 0, 0]) + ip4("10.0.0.100") + bytes(8))
    advert = codec.decode_ipv4_packet(ipv4_packet(message, "10.0.0.1", "224.0.0.18"))
    assert advert.auth_type == "unknown-9" and advert.password is None


# -- rejections ----------------------------------------------------------------


def replace(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


GOOD_V4 = ipv4_packet(V3_MULTICAST, "10.0.0.1", "224.0.0.18")
V3_BAD_LENGTH = with_checksum(bytes([0x31, 7, 100, 2]) + V3_FIELDS[4:])

REJECTED_IPV4 = {
    "truncated": [GOOD_V4[:19], GOOD_V4[:-1], GOOD_V4[:20] + GOOD_V4[20:27]],
    "bad_ip_version": [replace(GOOD_V4, 0, b"\x65")],
    "bad_ip_header_length": [replace(GOOD_V4, 0, b"\x44")],
    "bad_ip_total_length": [replace(GOOD_V4, 2, b"\x00\x13")],
    "not_vrrp": [ipv4_packet(V3_MULTICAST, "10.0.0.1", "224.0.0.18", protocol=17)],
    "bad_source": [
        ipv4_packet(V3_MULTICAST, "224.0.0.1", "224.0.0.18"),
        ipv4_packet(V3_MULTICAST, "0.0.0.0", "224.0.0.18"),
        ipv4_packet(V3_MULTICAST, "255.255.255.255", "224.0.0.18"),
    ],
    "bad_destination": [
        ipv4_packet(V3_MULTICAST, "10.0.0.1", "224.0.0.1"),
        ipv4_packet(V3_MULTICAST, "10.0.0.1", "255.255.255.255"),
        ipv4_packet(V3_MULTICAST, "10.0.0.1", "0.0.0.0"),
    ],
    "bad_version": [
        ipv4_packet(replace(V3_MULTICAST, 0, b"\x11"), "10.0.0.1", "224.0.0.18"),
        ipv4_packet(replace(V3_MULTICAST, 0, b"\x41"), "10.0.0.1", "224.0.0.18"),
    ],
    "bad_type": [ipv4_packet(replace(V3_MULTICAST, 0, b"\x32"), "10.0.0.1", "224.0.0.18")],
    "bad_length": [
        ipv4_packet(V3_BAD_LENGTH, "10.0.0.1", "224.0.0.18"),
        ipv4_packet(V3_MULTICAST + bytes(4), "10.0.0.1", "224.0.0.18"),
        ipv4_packet(V2_MESSAGE[:-8], "10.0.0.1", "224.0.0.18"),
    ],
}


@pytest.mark.parametrize(
    "reason, packet",
    [(reason, packet) for reason, packets in REJECTED_IPV4.items() for packet in packets],
)
def test_ipv4_rejections(reason, packet):
    with pytest.raises(VrrpDecodeError) as info:
        codec.decode_ipv4_packet(packet)
    assert info.value.reason == reason
    assert isinstance(info.value, LvsmonError)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "reason, args",
    [
        ("truncated", (V3_IPV6[:7], "fe80::a", "ff02::12", 255)),
        ("bad_version", (replace(V3_IPV6, 0, b"\x21"), "fe80::a", "ff02::12", 255)),
        ("bad_length", (V3_IPV6[:-16], "fe80::a", "ff02::12", 255)),
        ("bad_source", (V3_IPV6, "ff02::1", "ff02::12", 255)),
        ("bad_source", (V3_IPV6, "::", "ff02::12", 255)),
        ("bad_source", (V3_IPV6, "not an address", "ff02::12", 255)),
        ("bad_source", (V3_IPV6, b"\xfe\x80", "ff02::12", 255)),
        ("bad_destination", (V3_IPV6, "fe80::a", "ff02::1", 255)),
        ("bad_destination", (V3_IPV6, "fe80::a", "10.0.0.1", 255)),
    ],
)
def test_ipv6_rejections(reason, args):
    with pytest.raises(VrrpDecodeError) as info:
        codec.decode_ipv6_payload(*args)
    assert info.value.reason == reason


def test_every_reason_is_tested():
    tested = set(REJECTED_IPV4) | {"missing_ancillary"}
    assert tested == set(codec.REJECT_REASONS)


# -- IPv6 ancillary data ---------------------------------------------------------


def ancillary(destination: str = "ff02::12", hop_limit: int = 255, ifindex: int = 3):
    return [
        (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("@i", hop_limit)),
        (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, ip6(destination) + struct.pack("@I", ifindex)),
    ]


def test_ipv6_recvmsg_parts():
    assert codec.ipv6_ancillary(ancillary(ifindex=7)) == (ip6("ff02::12"), 255, 7)
    advert = codec.decode_ipv6_recvmsg(
        V3_IPV6, ancillary(hop_limit=254), ("fe80::a%veth0", 0, 0, 3)
    )
    assert advert.ttl == 254 and advert.source == "fe80::a" and advert.checksum_ok


def test_ipv6_missing_ancillary():
    with pytest.raises(VrrpDecodeError) as info:
        codec.decode_ipv6_recvmsg(V3_IPV6, ancillary()[:1], ("fe80::a", 0, 0, 3))
    assert info.value.reason == "missing_ancillary"


def raw_socket_child() -> None:
    """Runs under `unshare --net`: a fresh netns whose loopback is the only link."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    results = []
    with (
        socket.socket(socket.AF_INET, socket.SOCK_RAW, 112) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_RAW, 112) as sender,
    ):
        receiver.settimeout(2)
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
        payload = codec.encode_advert(
            vrid=2, priority=98, addresses=["10.9.9.9"], source="127.0.0.1", destination="127.0.0.1"
        )
        sender.sendto(payload, ("127.0.0.1", 0))
        results.append(codec.decode_ipv4_packet(receiver.recv(4096)))
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112) as receiver,
        socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112) as sender,
    ):
        receiver.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        receiver.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        receiver.settimeout(2)
        sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        payload = codec.encode_advert(
            vrid=3, priority=99, addresses=["2001:db8::5"], source="::1", destination="::1"
        )
        sender.sendto(payload, ("::1", 0))
        data, anc, _flags, address = receiver.recvmsg(4096, socket.CMSG_SPACE(64))
        results.append(codec.decode_ipv6_recvmsg(data, anc, address))
    fields = ("vrid", "priority", "addresses", "ttl", "checksum_form", "destination")
    print(json.dumps([{name: getattr(advert, name) for name in fields} for advert in results]))


def test_real_raw_sockets_in_a_private_netns():
    """What the kernel's raw sockets hand over (IPv4 header, IPv6 ancillary data) decodes."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private network namespace")
    code = "from tests.unit.test_vrrp_codec import raw_socket_child; raw_socket_child()"
    done = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    v4, v6 = json.loads(done.stdout)
    assert v4 == dict(
        vrid=2,
        priority=98,
        addresses=["10.9.9.9"],
        ttl=255,
        checksum_form="rfc5798",
        destination="127.0.0.1",
    )
    assert v6 == dict(
        vrid=3,
        priority=99,
        addresses=["2001:db8::5"],
        ttl=255,
        checksum_form="rfc5798",
        destination="::1",
    )


# -- encoding errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(vrid=0),
        dict(vrid=256),
        dict(priority=-1),
        dict(addresses=["10.0.0.1"] * 256),
        dict(addresses=["2001:db8::1"]),
        dict(addresses=["not-an-ip"]),
        dict(destination="ff02::12"),
        dict(version=4),
        dict(version=2, advert_interval_centiseconds=150),
        dict(version=2, advert_interval_centiseconds=25600),
        dict(version=2, auth_type="md5"),
        dict(version=2, auth_type="simple", auth_data="ninechars"),
        dict(version=2, auth_type="none", auth_data="x"),
        dict(version=2, checksum_form="rfc5798"),
        dict(version=3, auth_type="simple", auth_data="pw"),
        dict(version=3, advert_interval_centiseconds=4096),
        dict(version=3, checksum_form="nonsense"),
    ],
)
def test_encode_refuses(kwargs):
    args = dict(vrid=1, priority=100, addresses=["10.0.0.1"], source="10.0.0.2") | kwargs
    with pytest.raises(VrrpEncodeError):
        codec.encode_advert(**args)


def test_encode_refuses_v2_over_ipv6_and_other_forms():
    with pytest.raises(ValueError):
        codec.encode_advert(version=2, vrid=1, priority=1, addresses=[], source="fe80::1")
    with pytest.raises(VrrpEncodeError):
        codec.encode_advert(
            vrid=1, priority=1, addresses=[], source="fe80::1", checksum_form="no_pseudo_header"
        )


# -- counting ----------------------------------------------------------------------


def test_decode_stats_count_by_reason():
    stats = DecodeStats()
    assert stats.decode_ipv4(GOOD_V4) is not None
    assert stats.decode_ipv4(ipv4_packet(V3_MULTICAST, "10.0.0.1", "224.0.0.18", ttl=9))
    assert stats.decode_ipv4(GOOD_V4[:10]) is None
    assert stats.decode_ipv4(REJECTED_IPV4["bad_type"][0]) is None
    assert stats.decode_ipv4(REJECTED_IPV4["bad_type"][0]) is None
    assert stats.decode_ipv6(V3_IPV6, ancillary(), ("fe80::a", 0, 0, 1)) is not None
    assert stats.decode_ipv6(V3_IPV6, [], ("fe80::a", 0, 0, 1)) is None
    assert stats.last_error.reason == "missing_ancillary"
    assert stats.decoded == 3 and stats.rejected_total == 4
    snapshot = stats.snapshot()
    assert snapshot.rejected["bad_type"] == 2
    assert snapshot.rejected["truncated"] == 1
    assert snapshot.rejected["bad_length"] == 0
    assert snapshot.anomalies == {"bad_ttl": 1}
    assert snapshot.rejected_total == 4


# -- an independent encoder --------------------------------------------------------


def test_decodes_what_scapy_builds():
    scapy = pytest.importorskip("scapy.all")
    vrrp = pytest.importorskip("scapy.layers.vrrp")
    v2 = scapy.IP(src="10.0.0.1", dst="224.0.0.18", ttl=255) / vrrp.VRRP(
        vrid=42,
        priority=120,
        addrlist=["10.0.0.50", "10.0.0.51"],
        authtype=1,
        auth1=int.from_bytes(b"pass"),
        auth2=int.from_bytes(b"word"),
        adv=3,
    )
    advert = codec.decode_ipv4_packet(scapy.raw(v2))
    assert (advert.version, advert.vrid, advert.priority) == (2, 42, 120)
    assert advert.addresses == ("10.0.0.50", "10.0.0.51")
    assert advert.password == "password" and advert.advert_interval_seconds == 3
    assert advert.checksum_form == "rfc3768"

    v3 = scapy.IP(src="10.0.0.1", dst="10.0.0.2", ttl=255) / vrrp.VRRPv3(
        vrid=43, priority=200, addrlist=["10.0.0.60"], adv=50
    )
    advert = codec.decode_ipv4_packet(scapy.raw(v3))
    assert advert.advert_interval_centiseconds == 50 and advert.checksum_form == "rfc5798"

    v6 = scapy.IPv6(src="fe80::1", dst="ff02::12", hlim=255) / vrrp.VRRPv3(
        vrid=44, priority=100, addrlist=["2001:db8::1"], adv=100
    )
    payload = scapy.raw(v6)[40:]
    advert = codec.decode_ipv6_payload(payload, "fe80::1", "ff02::12", 255)
    assert advert.addresses == ("2001:db8::1",) and advert.checksum_form == "rfc5798"

    # scapy builds the very bytes we build, checksums included.
    for version, layer, extra in ((2, vrrp.VRRP, dict(adv=1)), (3, vrrp.VRRPv3, dict(adv=100))):
        theirs = scapy.IP(src="10.0.0.1", dst="224.0.0.18") / layer(
            vrid=45, priority=10, addrlist=["10.0.0.70"], **extra
        )
        ours = codec.encode_advert(
            version=version, vrid=45, priority=10, addresses=["10.0.0.70"], source="10.0.0.1"
        )
        assert scapy.raw(theirs)[20:] == ours
