"""Decode and encode VRRP adverts: v2 (RFC 3768) and v3 (RFC 5798), IPv4 and IPv6.

Input, as the observer's raw sockets deliver it:

- IPv4: ``socket(AF_INET, SOCK_RAW, 112)`` hands over the IPv4 header and the
  VRRP message: pass the bytes to ``decode_ipv4_packet``. A socket for
  protocol 51 (AH) may also be decoded: keepalived's deprecated ``auth_type AH``
  puts an AH header between IPv4 and VRRP.
- IPv6: ``socket(AF_INET6, SOCK_RAW, 112)`` hands over the VRRP message only;
  destination and hop limit come as ancillary data (set IPV6_RECVPKTINFO and
  IPV6_RECVHOPLIMIT). Pass ``recvmsg()``'s result to ``decode_ipv6_recvmsg``, or
  the parts to ``decode_ipv6_payload``. Do not set IPV6_CHECKSUM on a receiving
  socket: the kernel would then drop bad checksums that the observer must report.

Two kinds of trouble, kept apart on purpose:

- Unusable packets raise ``VrrpDecodeError`` with ``reason`` one of
  ``REJECT_REASONS`` (count them with ``lvsmon.vrrp.stats.DecodeStats``). Nothing
  else is ever raised while decoding, whatever the bytes.
- Readable packets that break a MUST of the RFC (TTL / hop limit not 255, a
  checksum that matches no known form) are returned as an ``Advert`` whose
  ``ttl_ok`` / ``checksum_ok`` are False: a router drops those, an observer reports
  them. ``Advert.anomalies`` lists them by name.

Checksum forms (``Advert.checksum_form``), see CHECKSUM_FORMS below. VRRPv3 over
IPv4 is tried in the order RFC 5798, no pseudo-header, keepalived's old unicast
form, and the first that matches is reported. Where two forms give the same
checksum they cannot be told apart: always for multicast (keepalived's old form
is then RFC 5798's), and by chance when the pseudo-header sums to zero or a
unicast destination sums like 224.0.0.18 (e.g. 223.9.1.9).

Output: ``encode_advert`` builds the VRRP message with its checksum (the raw
socket adds the IP header); ``encode_ipv4_packet`` adds an IPv4 header for
IP_HDRINCL sockets and for tests.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

from lvsmon.errors import LvsmonError
from lvsmon.model import Advert
from lvsmon.vrrp import checksum

IPPROTO_VRRP = checksum.IPPROTO_VRRP
IPPROTO_AH = 51
VRRP_GROUP4 = "224.0.0.18"
VRRP_GROUP6 = "ff02::12"
REQUIRED_TTL = 255
ADVERTISEMENT = 1  # the only VRRP packet type

_GROUP4 = socket.inet_pton(socket.AF_INET, VRRP_GROUP4)
_GROUP6 = socket.inet_pton(socket.AF_INET6, VRRP_GROUP6)
_ZERO6 = bytes(16)

# VRRPv2: over the VRRP message only, as RFC 3768 defines it.
CHECKSUM_RFC3768 = "rfc3768"
# VRRPv3 with the IPv4 or IPv6 pseudo-header, as RFC 5798 section 5.2.8 says.
CHECKSUM_RFC5798 = "rfc5798"
# VRRPv3 over IPv4 over the VRRP message only, VRRPv2 style: RFC 9568 allows it
# for interoperation, and several vendors send it.
CHECKSUM_NO_PSEUDO_HEADER = "no_pseudo_header"
# VRRPv3 over IPv4 unicast with 224.0.0.18 as the pseudo-header's destination:
# keepalived before 1.3.6 (and later ones with `old_unicast_checksum`).
CHECKSUM_KEEPALIVED_OLD_UNICAST = "keepalived_old_unicast"
CHECKSUM_FORMS = (
    CHECKSUM_RFC3768,
    CHECKSUM_RFC5798,
    CHECKSUM_NO_PSEUDO_HEADER,
    CHECKSUM_KEEPALIVED_OLD_UNICAST,
)

# v2 Auth Type field (RFC 3768 section 5.3.6; type 2 from RFC 2338, deprecated).
AUTH_TYPES = {0: "none", 1: "simple", 2: "ah"}
_AUTH_TYPE_NUMBERS = {name: number for number, name in AUTH_TYPES.items()}
AUTH_DATA_LENGTH = 8

REJECT_REASONS = (
    "truncated",  # fewer bytes than a header needs, or than the IPv4 total length says
    "bad_ip_version",  # IPv4 header's version is not 4
    "bad_ip_header_length",  # IHL below 5 words
    "bad_ip_total_length",  # total length shorter than the header
    "not_vrrp",  # IP protocol not 112 (nor AH carrying 112)
    "bad_source",  # multicast, broadcast or unspecified source; unreadable address
    "bad_destination",  # neither the VRRP group nor unicast
    "bad_version",  # VRRP version not 2 or 3 (or 2 over IPv6)
    "bad_type",  # VRRP type not 1 (advertisement)
    "bad_length",  # VRRP length does not match the address count (+ v2 auth data)
    "missing_ancillary",  # IPv6: no IPV6_PKTINFO or IPV6_HOPLIMIT in recvmsg's ancillary data
)

_IPV4 = struct.Struct("!BxHHHBBH4s4s")  # ver/ihl, tot_len, id, frag, ttl, proto, csum, src, dst
_AH = struct.Struct("!BB")  # next header, payload length in 4-byte words minus 2
_VRRP = struct.Struct("!BBBBHH")  # ver/type, vrid, priority, count, auth+interval / interval, csum
_HOPLIMIT = struct.Struct("@i")  # the kernel's int, native order
_PKTINFO = struct.Struct("@16sI")  # struct in6_pktinfo: address, interface index


class VrrpDecodeError(LvsmonError):
    """A received packet cannot be used as a VRRP advert; ``reason`` says why."""

    def __init__(self, reason: str, detail: str = ""):
        message = f"VRRP packet rejected: {reason}"
        super().__init__(f"{message} ({detail})" if detail else message)
        self.reason = reason
        self.detail = detail


class VrrpEncodeError(LvsmonError, ValueError):
    """The values given cannot be put in a VRRP advert."""


# -- decoding ---------------------------------------------------------------


def decode_ipv4_packet(data: bytes) -> Advert:
    """Decode what an IPv4 raw socket received: IPv4 header + (AH +) VRRP."""
    if len(data) < 20:
        raise VrrpDecodeError("truncated", f"{len(data)} bytes, no IPv4 header")
    vihl, total, _ident, _frag, ttl, protocol, _csum, src, dst = _IPV4.unpack_from(data)
    if vihl >> 4 != 4:
        raise VrrpDecodeError("bad_ip_version", f"version {vihl >> 4}")
    header_length = (vihl & 0x0F) * 4
    if header_length < 20:
        raise VrrpDecodeError("bad_ip_header_length", f"{header_length} bytes")
    if total < header_length:
        raise VrrpDecodeError("bad_ip_total_length", f"{total} < header {header_length}")
    if total > len(data):
        raise VrrpDecodeError("truncated", f"total length {total}, received {len(data)}")
    start = header_length
    if protocol == IPPROTO_AH:
        start = _skip_ah(data, start, total)
    elif protocol != IPPROTO_VRRP:
        raise VrrpDecodeError("not_vrrp", f"IP protocol {protocol}")
    if src[0] >= 224 or src == b"\0\0\0\0":
        raise VrrpDecodeError("bad_source", socket.inet_ntop(socket.AF_INET, src))
    if (dst[0] >= 224 and dst != _GROUP4) or dst == b"\0\0\0\0":
        raise VrrpDecodeError("bad_destination", socket.inet_ntop(socket.AF_INET, dst))
    return _decode_vrrp(data[start:total], socket.AF_INET, src, dst, ttl)


def _skip_ah(data: bytes, start: int, total: int) -> int:
    """Offset of the VRRP message behind an AH header (RFC 4302)."""
    if start + 12 > total:
        raise VrrpDecodeError("truncated", "AH header")
    next_header, words = _AH.unpack_from(data, start)
    if next_header != IPPROTO_VRRP:
        raise VrrpDecodeError("not_vrrp", f"AH next header {next_header}")
    end = start + (words + 2) * 4
    if end > total:
        raise VrrpDecodeError("truncated", "AH header")
    return end


def decode_ipv6_payload(
    payload: bytes, source: str | bytes, destination: str | bytes, hop_limit: int
) -> Advert:
    """Decode a VRRP message an IPv6 raw socket received.

    ``source``: recvmsg's address (text, a ``%scope`` suffix is dropped) or 16
    bytes; ``destination``: IPV6_PKTINFO's address; ``hop_limit``: IPV6_HOPLIMIT.
    """
    src = _packed6(source, "bad_source")
    dst = _packed6(destination, "bad_destination")
    if src[0] == 0xFF or src == _ZERO6:
        raise VrrpDecodeError("bad_source", socket.inet_ntop(socket.AF_INET6, src))
    if (dst[0] == 0xFF and dst != _GROUP6) or dst == _ZERO6:
        raise VrrpDecodeError("bad_destination", socket.inet_ntop(socket.AF_INET6, dst))
    return _decode_vrrp(payload, socket.AF_INET6, src, dst, hop_limit)


def ipv6_ancillary(ancdata: Iterable[tuple[int, int, bytes]]) -> tuple[bytes, int, int]:
    """(destination as 16 bytes, hop limit, interface index) from recvmsg's ancillary data."""
    destination = hop_limit = ifindex = None
    for level, kind, value in ancdata:
        if level != socket.IPPROTO_IPV6:
            continue
        if kind == socket.IPV6_PKTINFO and len(value) >= _PKTINFO.size:
            destination, ifindex = _PKTINFO.unpack_from(value)
        elif kind == socket.IPV6_HOPLIMIT and len(value) >= _HOPLIMIT.size:
            hop_limit = _HOPLIMIT.unpack_from(value)[0]
    if destination is None or hop_limit is None or ifindex is None:
        raise VrrpDecodeError("missing_ancillary", "set IPV6_RECVPKTINFO and IPV6_RECVHOPLIMIT")
    return destination, hop_limit, ifindex


def decode_ipv6_recvmsg(
    payload: bytes, ancdata: Iterable[tuple[int, int, bytes]], address: tuple
) -> Advert:
    """Decode ``sock.recvmsg(bufsize, ancbufsize)``'s data, ancdata and address."""
    destination, hop_limit, _ifindex = ipv6_ancillary(ancdata)
    return decode_ipv6_payload(payload, address[0], destination, hop_limit)


def _packed6(address: str | bytes, reason: str) -> bytes:
    if isinstance(address, bytes | bytearray):
        if len(address) != 16:
            raise VrrpDecodeError(reason, f"{len(address)}-byte IPv6 address")
        return bytes(address)
    try:
        return socket.inet_pton(socket.AF_INET6, address.partition("%")[0])
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise VrrpDecodeError(reason, f"{address!r} is not an IPv6 address") from err


def _decode_vrrp(message: bytes, family: int, src: bytes, dst: bytes, ttl: int) -> Advert:
    if len(message) < 8:
        raise VrrpDecodeError("truncated", f"{len(message)}-byte VRRP message")
    version_type, vrid, priority, count, interval_field, received_checksum = _VRRP.unpack_from(
        message
    )
    version = version_type >> 4
    if version == 2 and family == socket.AF_INET:
        address_length, trailer = 4, AUTH_DATA_LENGTH
    elif version == 3:
        address_length, trailer = (4 if family == socket.AF_INET else 16), 0
    else:
        raise VrrpDecodeError("bad_version", f"version {version} over {_family_name(family)}")
    if version_type & 0x0F != ADVERTISEMENT:
        raise VrrpDecodeError("bad_type", f"type {version_type & 0x0F}")
    expected = 8 + count * address_length + trailer
    if len(message) != expected:
        raise VrrpDecodeError(
            "bad_length", f"{len(message)} bytes for {count} addresses, expected {expected}"
        )
    end = 8 + count * address_length
    addresses = tuple(
        socket.inet_ntop(family, message[offset : offset + address_length])
        for offset in range(8, end, address_length)
    )
    if version == 2:
        auth_number = interval_field >> 8
        auth_type = AUTH_TYPES.get(auth_number, f"unknown-{auth_number}")
        auth_data = message[end:]
        interval = (interval_field & 0xFF) * 100
        form = CHECKSUM_RFC3768 if checksum.verifies(message) else None
    else:
        auth_type, auth_data = None, b""
        interval = interval_field & 0x0FFF  # the top 4 bits are reserved
        form = _v3_checksum_form(message, family, src, dst)
    return Advert(
        version=version,
        vrid=vrid,
        priority=priority,
        addresses=addresses,
        family=_family_name(family),
        advert_interval_centiseconds=interval,
        source=socket.inet_ntop(family, src),
        destination=socket.inet_ntop(family, dst),
        ttl=ttl,
        checksum=received_checksum,
        checksum_form=form,
        auth_type=auth_type,
        auth_data=auth_data,
    )


def _v3_checksum_form(message: bytes, family: int, src: bytes, dst: bytes) -> str | None:
    if family == socket.AF_INET6:
        pseudo = checksum.pseudo_header6(src, dst, len(message))
        return CHECKSUM_RFC5798 if checksum.verifies(message, pseudo) else None
    if checksum.verifies(message, checksum.pseudo_header4(src, dst, len(message))):
        return CHECKSUM_RFC5798
    if checksum.verifies(message):
        return CHECKSUM_NO_PSEUDO_HEADER
    if dst != _GROUP4 and checksum.verifies(
        message, checksum.pseudo_header4(src, _GROUP4, len(message))
    ):
        return CHECKSUM_KEEPALIVED_OLD_UNICAST
    return None


def _family_name(family: int) -> str:
    return "inet6" if family == socket.AF_INET6 else "inet"


# -- encoding ---------------------------------------------------------------


def encode_advert(
    *,
    vrid: int,
    priority: int,
    addresses: Iterable[str],
    source: str,
    destination: str | None = None,
    version: int = 3,
    advert_interval_centiseconds: int = 100,
    auth_type: str = "none",
    auth_data: bytes | str = b"",
    checksum_form: str | None = None,
) -> bytes:
    """The VRRP message (no IP header) with its checksum filled in.

    The family follows ``source``; ``destination`` defaults to the family's VRRP
    group. v2: IPv4 only, whole seconds, ``auth_type`` "none", "simple" (the
    password as ``auth_data``, at most 8 bytes) or "ah". v3: ``checksum_form``
    defaults to RFC 5798; over IPv4 "no_pseudo_header" and
    "keepalived_old_unicast" can be chosen to talk to peers that expect them.
    """
    family, src = _parse_address(source, "source")
    if destination is None:
        dst = _GROUP4 if family == socket.AF_INET else _GROUP6
    else:
        dst_family, dst = _parse_address(destination, "destination")
        if dst_family != family:
            raise VrrpEncodeError(f"destination {destination} is not in the family of {source}")
    packed = []
    for address in addresses:
        address_family, raw = _parse_address(address, "virtual address")
        if address_family != family:
            raise VrrpEncodeError(f"virtual address {address} is not in the family of {source}")
        packed.append(raw)
    _check_range("VRID", vrid, 1, 255)
    _check_range("priority", priority, 0, 255)
    _check_range("address count", len(packed), 0, 255)
    body = b"".join(packed)

    if version == 2:
        if family != socket.AF_INET:
            raise VrrpEncodeError("VRRPv2 is IPv4 only (RFC 3768)")
        if advert_interval_centiseconds % 100:
            raise VrrpEncodeError("VRRPv2 advert interval must be whole seconds")
        seconds = advert_interval_centiseconds // 100
        _check_range("VRRPv2 advert interval (seconds)", seconds, 1, 255)
        interval_field = (_auth_number(auth_type) << 8) | seconds
        body += _auth_data(auth_type, auth_data)
        if checksum_form not in (None, CHECKSUM_RFC3768):
            raise VrrpEncodeError(f"VRRPv2 has one checksum form, not {checksum_form}")
        pseudo = b""
    elif version == 3:
        if auth_type != "none" or auth_data:
            raise VrrpEncodeError("VRRPv3 has no authentication (RFC 5798 section 9)")
        _check_range("VRRPv3 advert interval (centiseconds)", advert_interval_centiseconds, 1, 4095)
        interval_field = advert_interval_centiseconds
        length = 8 + len(body)
        pseudo = _v3_pseudo_header(checksum_form, family, src, dst, length)
    else:
        raise VrrpEncodeError(f"VRRP version {version}: only 2 and 3 exist")

    header = _VRRP.pack(
        (version << 4) | ADVERTISEMENT, vrid, priority, len(packed), interval_field, 0
    )
    message = header + body
    value = checksum.compute(message, pseudo)
    return message[:6] + value.to_bytes(2, "big") + message[8:]


def _v3_pseudo_header(form: str | None, family: int, src: bytes, dst: bytes, length: int) -> bytes:
    if family == socket.AF_INET6:
        if form not in (None, CHECKSUM_RFC5798):
            raise VrrpEncodeError(f"VRRPv3 over IPv6 has one checksum form, not {form}")
        return checksum.pseudo_header6(src, dst, length)
    if form in (None, CHECKSUM_RFC5798):
        return checksum.pseudo_header4(src, dst, length)
    if form == CHECKSUM_NO_PSEUDO_HEADER:
        return b""
    if form == CHECKSUM_KEEPALIVED_OLD_UNICAST:
        return checksum.pseudo_header4(src, _GROUP4, length)
    raise VrrpEncodeError(f"unknown checksum form {form!r}: one of {', '.join(CHECKSUM_FORMS)}")


def _auth_number(auth_type: str) -> int:
    try:
        return _AUTH_TYPE_NUMBERS[auth_type]
    except KeyError:
        raise VrrpEncodeError(
            f"unknown VRRPv2 auth type {auth_type!r}: one of {', '.join(_AUTH_TYPE_NUMBERS)}"
        ) from None


def _auth_data(auth_type: str, auth_data: bytes | str) -> bytes:
    data = auth_data.encode("latin-1") if isinstance(auth_data, str) else bytes(auth_data)
    if auth_type != "simple" and data:
        raise VrrpEncodeError(f"auth type {auth_type} carries no authentication data")
    if len(data) > AUTH_DATA_LENGTH:
        raise VrrpEncodeError(
            "a VRRPv2 password is at most 8 characters (keepalived cuts it there)"
        )
    return data.ljust(AUTH_DATA_LENGTH, b"\0")


def _parse_address(text: str, what: str) -> tuple[int, bytes]:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return family, socket.inet_pton(family, text)
        except (OSError, ValueError, TypeError):
            continue
    raise VrrpEncodeError(f"{what} {text!r} is not an IP address")


def _check_range(what: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or not low <= value <= high:
        raise VrrpEncodeError(f"{what} {value!r} is out of range {low}..{high}")


def encode_ipv4_packet(
    payload: bytes,
    *,
    source: str,
    destination: str = VRRP_GROUP4,
    ttl: int = REQUIRED_TTL,
    protocol: int = IPPROTO_VRRP,
    identification: int = 0,
) -> bytes:
    """An IPv4 header (no options, DF clear) in front of ``payload``, as IP_HDRINCL sends it."""
    src_family, src = _parse_address(source, "source")
    dst_family, dst = _parse_address(destination, "destination")
    if src_family != socket.AF_INET or dst_family != socket.AF_INET:
        raise VrrpEncodeError(f"{source} -> {destination} is not an IPv4 pair")
    _check_range("TTL", ttl, 0, 255)
    total = 20 + len(payload)
    _check_range("IPv4 total length", total, 20, 0xFFFF)
    header = _IPV4.pack(0x45, total, identification & 0xFFFF, 0, ttl, protocol, 0, src, dst)
    value = checksum.compute(header)
    return header[:10] + value.to_bytes(2, "big") + header[12:] + payload
