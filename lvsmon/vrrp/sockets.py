"""Raw sockets that hear every VRRP advert on one interface (needs CAP_NET_RAW only).

IPv4: ``AF_INET/SOCK_RAW/112`` joined to 224.0.0.18 on the interface; the kernel
hands over the IPv4 header too. IPv6: ``AF_INET6/SOCK_RAW/112`` joined to ff02::12,
with IPV6_RECVPKTINFO and IPV6_RECVHOPLIMIT so the destination and hop limit come
as ancillary data. Both are bound to the interface (SO_BINDTODEVICE) and
non-blocking. IPV6_CHECKSUM is deliberately not set: the kernel would then drop
bad checksums that the observer must report.

Neither socket hears what this host sends itself (keepalived turns multicast loop
off, and unicast is never looped), so on a keepalived node the local router would be
invisible while it is master. ``open_outgoing`` adds a packet socket that sees only
outgoing VRRP (IPv4 and IPv6, a kernel BPF filter drops everything else).

Unicast adverts (keepalived's ``unicast_peer``) reach these sockets only on the
peers they are addressed to (and, with ``open_outgoing``, on their sender): an
observer elsewhere on the segment cannot hear them.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import struct

from lvsmon.errors import PermissionDenied, VrrpError
from lvsmon.vrrp import codec

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
SIOCGIFFLAGS = 0x8913
RECV_BUFFER = 65535
ANCILLARY_BUFFER = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4) + 64

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26

# Classic BPF for a SOCK_DGRAM packet socket (offset 0 is the network header): keep
# outgoing IPv4 with protocol 112 and outgoing IPv6 with next header 112, drop the rest.
_SKF_AD_OFF = -0x1000
_SKF_AD_PROTOCOL, _SKF_AD_PKTTYPE = 0, 4
_LD_W_ABS, _LD_B_ABS, _JEQ_K, _RET_K = 0x20, 0x30, 0x15, 0x06
_OUTGOING_VRRP_FILTER = (  # (code, jump if true, jump if false, k); jumps are relative
    (_LD_W_ABS, 0, 0, (_SKF_AD_OFF + _SKF_AD_PKTTYPE) & 0xFFFFFFFF),  # 0: A = pkt_type
    (_JEQ_K, 0, 8, PACKET_OUTGOING),  # 1: outgoing -> 2, else drop
    (_LD_W_ABS, 0, 0, (_SKF_AD_OFF + _SKF_AD_PROTOCOL) & 0xFFFFFFFF),  # 2: A = ethertype
    (_JEQ_K, 0, 2, ETH_P_IP),  # 3: IPv4 -> 4, else 6
    (_LD_B_ABS, 0, 0, 9),  # 4: A = IPv4 protocol
    (_JEQ_K, 3, 4, codec.IPPROTO_VRRP),  # 5: VRRP -> accept, else drop
    (_JEQ_K, 0, 3, ETH_P_IPV6),  # 6: IPv6 -> 7, else drop
    (_LD_B_ABS, 0, 0, 6),  # 7: A = IPv6 next header (no extension headers expected)
    (_JEQ_K, 0, 1, codec.IPPROTO_VRRP),  # 8: VRRP -> accept, else drop
    (_RET_K, 0, 0, 0xFFFF),  # 9: accept (whole packet)
    (_RET_K, 0, 0, 0),  # 10: drop
)


def interface_index(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise VrrpError(
            f"no interface {ifname!r} here", "see `ip link` for the interfaces of this namespace"
        ) from None


def default_interfaces() -> list[str]:
    """The interfaces that are up and not loopback, in this network namespace."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            request = struct.pack("16sH", name.encode()[:15], 0)
            try:
                flags = struct.unpack_from("16sH", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
            except OSError:
                continue  # vanished meanwhile
            if flags & IFF_UP and not flags & IFF_LOOPBACK:
                found.append(name)
    return found


def open_ipv4(ifname: str) -> socket.socket:
    """A socket hearing IPv4 VRRP (multicast, and unicast to this host) on ``ifname``."""
    index = interface_index(ifname)
    sock = _raw_socket(socket.AF_INET, ifname)
    try:
        # struct ip_mreqn: group, local address (any), interface index.
        request = socket.inet_aton(codec.VRRP_GROUP4) + bytes(4) + struct.pack("@i", index)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
    except OSError as err:
        sock.close()
        raise VrrpError(f"cannot join {codec.VRRP_GROUP4} on {ifname}: {err.strerror}") from err
    return sock


def open_ipv6(ifname: str) -> socket.socket:
    """A socket hearing IPv6 VRRP on ``ifname``, with destination and hop limit per packet."""
    index = interface_index(ifname)
    sock = _raw_socket(socket.AF_INET6, ifname)
    try:
        request = socket.inet_pton(socket.AF_INET6, codec.VRRP_GROUP6) + struct.pack("@I", index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, request)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    except OSError as err:
        sock.close()
        raise VrrpError(
            f"cannot join {codec.VRRP_GROUP6} on {ifname}: {err.strerror}",
            "is IPv6 enabled on it?",
        ) from err
    return sock


def _raw_socket(family: int, ifname: str) -> socket.socket:
    try:
        sock = socket.socket(family, socket.SOCK_RAW, codec.IPPROTO_VRRP)
    except PermissionError as err:
        raise PermissionDenied(
            "opening a raw socket for VRRP (IP protocol 112) was refused",
            "run as root or give lvsmon CAP_NET_RAW",
        ) from err
    except OSError as err:
        if err.errno == errno.EAFNOSUPPORT:
            raise VrrpError("this kernel has no IPv6", "observe IPv4 only") from err
        raise
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.setblocking(False)
    except PermissionError as err:
        sock.close()
        raise PermissionDenied(
            f"binding the VRRP socket to {ifname} was refused", "give lvsmon CAP_NET_RAW"
        ) from err
    except OSError as err:
        sock.close()
        raise VrrpError(f"cannot bind a VRRP socket to {ifname}: {err.strerror}") from err
    return sock


def open_outgoing(ifname: str) -> socket.socket:
    """A packet socket seeing the VRRP adverts this host sends on ``ifname`` (IPv4 and IPv6).

    recvfrom() gives the IP packet (header included) and the address tuple
    (ifname, ethertype, pkttype, hatype, hwaddr).
    """
    interface_index(ifname)
    try:
        # Protocol 0 first: no packet is queued before the filter is in place.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    except PermissionError as err:
        raise PermissionDenied(
            "opening a packet socket for outgoing VRRP was refused",
            "run as root or give lvsmon CAP_NET_RAW",
        ) from err
    try:
        program = b"".join(struct.pack("@HBBI", *op) for op in _OUTGOING_VRRP_FILTER)
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = struct.pack("@HL", len(_OUTGOING_VRRP_FILTER), ctypes.addressof(buffer))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        raise VrrpError(f"cannot watch outgoing VRRP on {ifname}: {err.strerror}") from err
    return sock


def split_ipv6_packet(data: bytes) -> tuple[bytes, bytes, bytes, int]:
    """(VRRP payload, source, destination, hop limit) of an IPv6 packet without extension
    headers (the outgoing filter only passes next header 112)."""
    if len(data) < 40:
        raise codec.VrrpDecodeError("truncated", f"{len(data)} bytes, no IPv6 header")
    if data[0] >> 4 != 6:
        raise codec.VrrpDecodeError("bad_ip_version", f"version {data[0] >> 4}")
    length = int.from_bytes(data[4:6], "big")
    if 40 + length > len(data):
        raise codec.VrrpDecodeError("truncated", f"payload length {length}")
    return data[40 : 40 + length], data[8:24], data[24:40], data[7]
