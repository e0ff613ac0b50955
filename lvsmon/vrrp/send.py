"""What a VRRP router does to the network: send adverts, hold addresses, announce them.

- ``AdvertSocket``: the observer's raw receive socket (lvsmon.vrrp.sockets) made able
  to send too: TTL / hop limit 255, multicast out of this interface only, no loop back,
  and the source chosen per packet (IP_PKTINFO / IPV6_PKTINFO), because bind() on a
  raw socket would filter what it receives.
- ``primary_address``: the interface's first non-secondary IPv4 address, or its IPv6
  link-local address (RFC 5798 section 5.1.2.1: IPv6 adverts come from link-local).
- ``add_addresses`` / ``remove_addresses``: the virtual addresses, with pyroute2.
- ``announce``: gratuitous ARP (IPv4, AF_PACKET) or unsolicited neighbour
  advertisements (IPv6, ICMPv6 type 136 with the Override flag), so neighbours move
  their caches to this host's MAC at once.
Needs CAP_NET_RAW (sockets) and CAP_NET_ADMIN (addresses).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from lvsmon.errors import PermissionDenied, VrrpError
from lvsmon.vrrp import sockets


def _iproute():
    """A pyroute2 IPRoute socket. pyroute2 is imported only where the kernel is read or
    changed: it costs ~140 ms to import, which the CLI and anything that only imports this
    module need not pay."""
    from pyroute2 import IPRoute

    return IPRoute()

IP_PKTINFO = 8  # linux/in.h; Python's socket module lacks it
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
ETH_P_ARP = 0x0806
ALL_NODES6 = "ff02::1"
_BROADCAST_MAC = b"\xff" * 6
_BASE_SYSCTLS = (("arp_ignore", "1"), ("arp_announce", "2"))


class AdvertSocket:
    """Send and receive VRRP adverts of one family on one interface."""

    def __init__(self, ifname: str, family: str, source: str):
        self.ifname = ifname
        self.family = family
        self.source = source
        self.index = sockets.interface_index(ifname)
        if family == "inet":
            self.sock = sockets.open_ipv4(ifname)
            options = [
                (socket.IPPROTO_IP, socket.IP_TTL, 255),
                (socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255),
                (socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0),
                (socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(self.index)),
            ]
            packed = socket.inet_pton(socket.AF_INET, source)
            self._pktinfo = [
                (socket.IPPROTO_IP, IP_PKTINFO, struct.pack("@i4s4s", self.index, packed, bytes(4)))
            ]
        else:
            self.sock = sockets.open_ipv6(ifname)
            options = [
                (socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255),
                (socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255),
                (socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0),
                (socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.index),
            ]
            packed = socket.inet_pton(socket.AF_INET6, source.partition("%")[0])
            self._pktinfo = [
                (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, struct.pack("@16sI", packed, self.index))
            ]
        try:
            for level, name, value in options:
                self.sock.setsockopt(level, name, value)
        except OSError as err:
            self.sock.close()
            raise VrrpError(f"cannot set up VRRP sending on {ifname}: {err.strerror}") from err

    def send(self, message: bytes, destination: str) -> None:
        """Send one VRRP message (codec.encode_advert's output) to the group or a peer."""
        inet = self.family == "inet"
        address = (destination, 0) if inet else (destination, 0, 0, self.index)
        try:
            self.sock.sendmsg([message], self._pktinfo, 0, address)
        except BlockingIOError:
            pass  # a full send queue: the next advert follows within one interval
        except OSError as err:
            raise VrrpError(
                f"sending a VRRP advert on {self.ifname} failed: {err.strerror}"
            ) from err

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def _mreqn(index: int) -> bytes:
    return bytes(8) + struct.pack("@i", index)  # struct ip_mreqn: any group/address, ifindex


def vmac_address(vrid: int) -> str:
    """RFC 5798 section 7.3: the IPv4 virtual router MAC address 00-00-5E-00-01-{VRID}."""
    return f"00:00:5e:00:01:{vrid:02x}"


def vmac_name(vrid: int) -> str:
    return f"vrrp.{vrid}"  # keepalived's default name for its use_vmac interface


def create_vmac(base: str, vrid: int) -> dict[tuple[str, str], str]:
    """A private macvlan on ``base`` with the virtual MAC, up; VIPs go there (IPv4 only).

    So that only the VIP's holder answers ARP for it with the virtual MAC, base and
    macvlan get arp_ignore = 1 (answer only for addresses of the receiving interface).
    Returns the base's old sysctl values, for ``delete_vmac`` to restore.
    """
    from pyroute2.netlink.exceptions import NetlinkError

    name = vmac_name(vrid)
    base_index = sockets.interface_index(base)
    with _iproute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            ipr.link("del", index=index)  # a leftover of a killed run
        try:
            ipr.link("add", ifname=name, kind="macvlan", link=base_index,
                     macvlan_mode="private", address=vmac_address(vrid))  # fmt: skip
            (index,) = ipr.link_lookup(ifname=name)
            ipr.link("set", index=index, state="up")
        except NetlinkError as err:
            if err.code == errno.EPERM:
                raise PermissionDenied(
                    f"creating {name} was refused", "give CAP_NET_ADMIN"
                ) from err
            raise VrrpError(
                f"cannot create the virtual MAC interface {name} on {base}: {err}"
            ) from err
    # ARP requests the base sends for traffic from a VIP must not carry the VIP as sender
    # (neighbours would cache it at the base MAC): arp_announce = 2 uses the base's address.
    saved = {(base, key): _sysctl(base, key, value) for key, value in _BASE_SYSCTLS}
    _sysctl(name, "arp_ignore", "1")
    return saved


def delete_vmac(vrid: int, saved: dict[tuple[str, str], str]) -> None:
    with _iproute() as ipr:
        for index in ipr.link_lookup(ifname=vmac_name(vrid)):
            ipr.link("del", index=index)
    for (ifname, key), value in saved.items():
        _sysctl(ifname, key, value)


def _sysctl(ifname: str, key: str, value: str) -> str:
    """Set net.ipv4.conf.IFNAME.KEY; return the old value."""
    path = f"/proc/sys/net/ipv4/conf/{ifname}/{key}"
    try:
        with open(path) as handle:
            old = handle.read().strip()
        with open(path, "w") as handle:
            handle.write(value)
    except OSError as err:
        raise VrrpError(f"cannot set {path}: {err.strerror}") from err
    return old


def primary_address(ifname: str, family: str, exclude: tuple[str, ...] = ()) -> str:
    """The address adverts come from: first primary IPv4 address, or IPv6 link-local."""
    index = sockets.interface_index(ifname)
    skip = {address.split("/")[0] for address in exclude}
    with _iproute() as ipr:
        entries = ipr.get_addr(index=index, family=_af(family))
    for entry in entries:
        address = entry.get_attr("IFA_ADDRESS")
        if address is None or address in skip:
            continue
        if family == "inet" and not entry["flags"] & IFA_F_SECONDARY:
            return address
        if family == "inet6" and ipaddress.ip_address(address).is_link_local:
            return address
    wanted = "an IPv4 address" if family == "inet" else "an IPv6 link-local address"
    raise VrrpError(f"{ifname} has no {wanted} to send VRRP adverts from")


def _af(family: str) -> int:
    return socket.AF_INET if family == "inet" else socket.AF_INET6


def _split(vip: str) -> tuple[str, int]:
    interface = ipaddress.ip_interface(vip)
    return str(interface.ip), interface.network.prefixlen


def add_addresses(ifname: str, vips: tuple[str, ...]) -> None:
    index = sockets.interface_index(ifname)
    with _iproute() as ipr:
        for vip in vips:
            address, prefix = _split(vip)
            # IPv6: no duplicate address detection, the address must work at once.
            flags = IFA_F_NODAD if ":" in address else 0
            _netlink(
                ipr.addr,
                "add",
                vip,
                ifname,
                index=index,
                address=address,
                prefixlen=prefix,
                flags=flags,
                ignore=errno.EEXIST,
            )


def remove_addresses(ifname: str, vips: tuple[str, ...]) -> None:
    index = sockets.interface_index(ifname)
    with _iproute() as ipr:
        for vip in vips:
            address, prefix = _split(vip)
            _netlink(
                ipr.addr,
                "del",
                vip,
                ifname,
                index=index,
                address=address,
                prefixlen=prefix,
                ignore=errno.EADDRNOTAVAIL,
            )


def _netlink(call, command, vip, ifname, ignore, **fields) -> None:
    from pyroute2.netlink.exceptions import NetlinkError  # loaded already by _iproute()

    try:
        call(command, **fields)
    except NetlinkError as err:
        if err.code == ignore:
            return
        if err.code == errno.EPERM:
            raise PermissionDenied(
                f"changing {vip} on {ifname} was refused", "give lvsmon CAP_NET_ADMIN"
            ) from err
        raise VrrpError(f"cannot {command} {vip} on {ifname}: {err}") from err


def announce(ifname: str, vips: tuple[str, ...]) -> None:
    """Gratuitous ARP for IPv4 VIPs, unsolicited neighbour advertisements for IPv6 ones."""
    v4 = [_split(vip)[0] for vip in vips if ":" not in vip]
    v6 = [_split(vip)[0] for vip in vips if ":" in vip]
    if v4:
        _gratuitous_arp(ifname, v4)
    if v6:
        _neighbour_advertisements(ifname, v6)


def _gratuitous_arp(ifname: str, addresses: list[str]) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((ifname, ETH_P_ARP))
        mac = sock.getsockname()[4]
        for address in addresses:
            ip = socket.inet_aton(address)
            # ARP request for our own address (sender = target = VIP): every neighbour
            # that caches the VIP updates it, none answers.
            arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, bytes(6), ip)
            sock.send(_BROADCAST_MAC + mac + struct.pack("!H", ETH_P_ARP) + arp)


def _neighbour_advertisements(ifname: str, addresses: list[str]) -> None:
    index = sockets.interface_index(ifname)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as probe:
        probe.bind((ifname, 0))
        mac = probe.getsockname()[4]
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 4861 7.1.2
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        for address in addresses:
            target = socket.inet_pton(socket.AF_INET6, address)
            # Type 136, code 0, checksum 0 (the kernel fills it in), flags: Override;
            # option 2 (target link-layer address), length 1 (8 bytes).
            message = struct.pack("!BBHI16sBB6s", 136, 0, 0, 0x20000000, target, 2, 1, mac)
            sock.sendto(message, (ALL_NODES6, 0, 0, index))
