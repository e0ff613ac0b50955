"""Raw sockets that hear every VRRP advert on one interface (needs CAP_NET_RAW only).

IPv4: ``AF_INET/SOCK_RAW/112`` joined to 224.0.0.18 on the interface; the kernel
hands over the IPv4 header too. IPv6: ``AF_INET6/SOCK_RAW/112`` joined to ff02::12,
with IPV6_RECVPKTINFO and IPV6_RECVHOPLIMIT so the destination and hop limit come
as ancillary data. Both are bound to the interface (SO_BINDTODEVICE) and
non-blocking. IPV6_CHECKSUM is deliberately not set: the kernel would then drop
bad checksums that the observer must report.

Unicast adverts (keepalived's ``unicast_peer``) reach these sockets only on the
peers they are addressed to: an observer elsewhere on the segment cannot hear them.
"""

from __future__ import annotations

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
