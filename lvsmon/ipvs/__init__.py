"""Reading the IPVS table (netlink or procfs) and naming services as ipvsadm does.

    read_table("auto")      netlink, or procfs when this kernel has no IPVS netlink
    IpvsNetlink()           one reusable netlink socket: read_table(), set_weight()
    parse_service(spec)     "tcp:10.0.0.1:80", "fwm:7", "tcp:[2001:db8::1]:80" -> ServiceKey
    parse_real_server(spec) "10.0.0.2:80", "[2001:db8::2]:80" -> (address, port)

Totals: netlink has no IPVS totals, so a netlink read gets them from
/proc/net/ip_vs_stats when that file is there (the kernel's own figures, not a
sum over the services, which would miss deleted services); otherwise they stay
None.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re

from lvsmon.errors import IpvsUnavailable, LvsmonError, UsageError
from lvsmon.ipvs.netlink import IpvsNetlink
from lvsmon.ipvs.procfs import read_procfs, read_totals
from lvsmon.model import IpvsTable, ServiceKey, VirtualService

__all__ = [
    "IpvsNetlink",
    "find_service",
    "parse_real_server",
    "parse_service",
    "read_procfs",
    "read_table",
]

SOURCES = ("auto", "netlink", "procfs")

SERVICE_EXAMPLES = (
    "tcp:10.0.0.1:80, udp:10.0.0.1:53, sctp:10.0.0.1:3868, tcp:[2001:db8::1]:80, fwm:7 or fwm6:7"
)
REAL_SERVER_EXAMPLES = "10.0.0.2:80 or [2001:db8::2]:80"


def read_table(
    source: str = "auto",
    procfs_root: str | os.PathLike = "/proc",
    netlink: IpvsNetlink | None = None,
) -> IpvsTable:
    """One read of the whole table.

    auto: netlink, falling back to procfs only when the kernel has no IPVS
    netlink family; a permission error is raised, not hidden by the fallback.
    netlink: an open IpvsNetlink to reuse (a daemon keeps one).
    """
    if source not in SOURCES:
        raise UsageError(f"unknown IPVS source {source!r}", hint="use auto, netlink or procfs")
    if source == "procfs":
        return read_procfs(procfs_root)
    try:
        if netlink is not None:
            table = netlink.read_table()
        else:
            with IpvsNetlink() as nl:
                table = nl.read_table()
    except IpvsUnavailable:
        if source == "netlink":
            raise
        return read_procfs(procfs_root)
    return _with_totals(table, procfs_root)


def _with_totals(table: IpvsTable, procfs_root) -> IpvsTable:
    try:
        stats, rates = read_totals(procfs_root)
    except IpvsUnavailable:
        return table  # no ip_vs_stats: totals stay unknown
    except LvsmonError as exc:
        return dataclasses.replace(table, warnings=(*table.warnings, f"totals unknown: {exc}"))
    return dataclasses.replace(table, stats=stats, rates=rates)


def find_service(table: IpvsTable, key: ServiceKey) -> VirtualService | None:
    """table.service(key), but a firewall mark whose family a side does not know matches."""
    found = table.service(key)
    if found is not None or key.protocol != "fwm":
        return found
    for svc in table.services:
        if svc.fwmark == key.fwmark and None in (svc.key.family, key.family):
            return svc
    return None


_SERVICE_SPEC = re.compile(r"(?P<proto>[A-Za-z0-9]+):(?P<rest>.+)")
_MARK = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]+)|(?P<dec>[0-9]+)")
_HOST_PORT = re.compile(r"(?:\[(?P<ip6>[^\]]+)\]|(?P<ip4>[^:\[\]]+)):(?P<port>\d+)")


def parse_service(spec: str) -> ServiceKey:
    """ipvsadm's service spellings -> ServiceKey.

    tcp|udp|sctp:ADDRESS:PORT with IPv6 addresses in brackets; fwm:MARK for an
    IPv4 firewall-mark service (ipvsadm -f MARK), fwm6:MARK for IPv6 (-f MARK -6).
    MARK is decimal or 0x-hex. Addresses are numeric and come back normalised.
    """
    match = _SERVICE_SPEC.fullmatch(spec.strip())
    if match is None:
        raise _bad_service(spec, "expected PROTOCOL:ADDRESS:PORT or fwm:MARK")
    proto, rest = match["proto"].lower(), match["rest"]
    if proto in ("fwm", "fwm6"):
        number = _MARK.fullmatch(rest)
        if number is None:
            raise _bad_service(spec, f"firewall mark {rest!r} is not a number")
        mark = int(number["hex"], 16) if number["hex"] else int(number["dec"])
        if not 1 <= mark <= 0xFFFFFFFF:
            raise _bad_service(spec, f"firewall mark {mark} out of range 1..4294967295")
        return ServiceKey("fwm", "inet6" if proto == "fwm6" else "inet", fwmark=mark)
    if proto not in ("tcp", "udp", "sctp"):
        raise _bad_service(spec, f"unknown protocol {proto!r}")
    try:
        address, port = _host_port(rest)
    except ValueError as exc:
        raise _bad_service(spec, str(exc)) from None
    family = "inet6" if ":" in address else "inet"
    return ServiceKey(proto, family, address, port)


def parse_real_server(spec: str) -> tuple[str, int]:
    """"10.0.0.2:80" or "[2001:db8::2]:80" -> (normalised address, port).

    The port is required (0 for a real server of a firewall-mark service added without one).
    """
    try:
        return _host_port(spec.strip())
    except ValueError as exc:
        raise UsageError(
            f"bad real server {spec!r}: {exc}", hint=f"write it as {REAL_SERVER_EXAMPLES}"
        ) from None


def _host_port(text: str) -> tuple[str, int]:
    match = _HOST_PORT.fullmatch(text)
    if match is None:
        raise ValueError("expected ADDRESS:PORT, IPv6 addresses in brackets")
    port = int(match["port"])
    if port > 65535:
        raise ValueError(f"port {port} out of range 0..65535")
    if match["ip6"] is not None:
        if "%" in match["ip6"]:
            raise ValueError("IPVS takes no IPv6 zone (%...)")
        try:
            return str(ipaddress.IPv6Address(match["ip6"])), port
        except ValueError:
            raise ValueError(f"{match['ip6']!r} is not an IPv6 address") from None
    try:
        return str(ipaddress.IPv4Address(match["ip4"])), port
    except ValueError:
        raise ValueError(f"{match['ip4']!r} is not an IPv4 address") from None


def _bad_service(spec: str, why: str) -> UsageError:
    return UsageError(f"bad service {spec!r}: {why}", hint=f"write it as {SERVICE_EXAMPLES}")
