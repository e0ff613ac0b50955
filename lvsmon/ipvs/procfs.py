"""Read the IPVS table from /proc/net/ip_vs and the totals from /proc/net/ip_vs_stats.

The formats are those of ip_vs_info_seq_show() and ip_vs_stats_show() in
net/netfilter/ipvs/ip_vs_ctl.c:

    IP Virtual Server version 1.2.1 (size=4096)
    Prot LocalAddress:Port Scheduler Flags
      -> RemoteAddress:Port Forward Weight ActiveConn InActConn
    TCP  0A000001:0050 wlc ops persistent 75000 FFFFFF00
      -> 0A000102:0050      Masq    1      0          0
    TCP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0050 sh persistent 75000 80000000
    FWM  00000007 rr

IPv4 addresses and all ports are hex, IPv6 addresses uncompressed in brackets,
the firewall mark is hex too. "ops" (one-packet scheduling) is printed for IPv4
and FWM services only. The persistence timeout is printed in kernel jiffies
(svc->timeout = seconds * HZ), so seconds need the kernel's HZ; the netmask is
ntohl() of the IPv4 mask, and for IPv6 of a host-order prefix length (so 128
reads 80000000 on a little-endian machine). ip_vs_stats holds the totals and
rates as hex (64-bit since Linux 4.x).

What these files do not carry is None: per-service and per-real-server counters
and rates, thresholds, persistent connection counts, the persistence engine,
the family of a firewall-mark service, and the scheduler flags beyond
persistent/onepacket ("hashed" is always set on a listed service).
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import os
import re
import time
from dataclasses import replace
from pathlib import Path

from lvsmon.errors import IpvsUnavailable, ParseError, PermissionDenied
from lvsmon.model import (
    UNKNOWN_COUNTERS,
    Counters,
    IpvsTable,
    RealServer,
    ServiceKey,
    VirtualService,
)

FORWARD_NAMES = {"Masq": "masq", "Local": "local", "Tunnel": "tunnel", "Route": "route"}
PROTOCOL_NAMES = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}

_HEADER = re.compile(r"IP Virtual Server version (\d+\.\d+\.\d+) \(size=(\d+)\)")
_TITLE_SERVICE = ["Prot", "LocalAddress:Port", "Scheduler", "Flags"]
_TITLE_DEST = ["->", "RemoteAddress:Port", "Forward", "Weight", "ActiveConn", "InActConn"]
_SERVICE = re.compile(
    r"(?P<proto>[A-Z]+) +(?:(?P<ip4>[0-9A-F]{8})|\[(?P<ip6>[0-9a-fA-F:]+)\]):(?P<port>[0-9A-F]{4})"
    r" +(?P<sched>\S+)(?P<rest>.*)"
)
_FWM = re.compile(r"FWM +(?P<mark>[0-9A-F]{8}) +(?P<sched>\S+)(?P<rest>.*)")
_DEST = re.compile(
    r" +-> (?:(?P<ip4>[0-9A-F]{8})|\[(?P<ip6>[0-9a-fA-F:]+)\]):(?P<port>[0-9A-F]{4})"
    r" +(?P<fwd>\S+) +(?P<weight>\d+) +(?P<active>\d+) +(?P<inactive>\d+)"
)
_STATS_TITLES = (
    ["Total", "Incoming", "Outgoing", "Incoming", "Outgoing"],
    ["Conns", "Packets", "Packets", "Bytes", "Bytes"],
    [],
    ["Conns/s", "Pkts/s", "Pkts/s", "Bytes/s", "Bytes/s"],
)
_HEX = re.compile(r"[0-9A-Fa-f]{1,16}")


def read_procfs(procfs_root: str | os.PathLike = "/proc", hz: int | None = None) -> IpvsTable:
    """The table from `procfs_root`/net/ip_vs (+ ip_vs_stats for the totals).

    hz: the kernel's CONFIG_HZ, to turn the persistence timeout into seconds;
    by default found with kernel_hz(). Without it the timeout is None (with a
    warning) and "persistent" still shows in the flags.
    """
    root = Path(procfs_root)
    warnings: list[str] = []
    ip_vs = root / "net" / "ip_vs"
    text = _read(ip_vs, root)
    lines = _lines(text, ip_vs)
    if hz is None and any(" persistent " in line for line in lines):
        hz = kernel_hz(root)
    version, size, services = parse_ip_vs(lines, str(ip_vs), hz, warnings)

    stats, rates = UNKNOWN_COUNTERS, UNKNOWN_COUNTERS
    stats_path = root / "net" / "ip_vs_stats"
    try:
        stats_text = _read(stats_path, root)
    except IpvsUnavailable:
        warnings.append(f"{stats_path} is missing: totals unknown")
    else:
        stats, rates = parse_ip_vs_stats(_lines(stats_text, stats_path), str(stats_path))
    return IpvsTable(
        source="procfs",
        read_at_seconds=time.time(),
        services=tuple(services),
        version=version,
        connection_table_size=size,
        stats=stats,
        rates=rates,
        warnings=tuple(warnings),
    )


def read_totals(procfs_root: str | os.PathLike = "/proc") -> tuple[Counters, Counters]:
    """(totals, rates) from ip_vs_stats alone. IpvsUnavailable if the file is missing."""
    root = Path(procfs_root)
    path = root / "net" / "ip_vs_stats"
    return parse_ip_vs_stats(_lines(_read(path, root), path), str(path))


def _read(path: Path, root: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        hint = "load the ip_vs module (modprobe ip_vs)"
        if str(root) != "/proc":
            hint += f", or check that {root} is a procfs (or a copy of one)"
        raise IpvsUnavailable(f"no IPVS in this kernel: {path} does not exist", hint=hint) from None
    except PermissionError:
        raise PermissionDenied(f"cannot read {path}: permission denied") from None


def _lines(text: str, path: Path) -> list[str]:
    """Lines without their newline; every line the kernel writes ends with one."""
    if not text:
        raise ParseError(str(path), 1, "empty file")
    lines = text.split("\n")
    if lines[-1]:
        raise ParseError(
            str(path), len(lines), f"line cut off (no newline at the end): {lines[-1]!r}"
        )
    return [line.rstrip() for line in lines[:-1]]


def parse_ip_vs(
    lines: list[str], path: str, hz: int | None, warnings: list[str]
) -> tuple[str, int, list[VirtualService]]:
    """Lines of /proc/net/ip_vs -> (version, connection table size, services)."""
    header = _HEADER.fullmatch(lines[0])
    if header is None:
        raise ParseError(path, 1, f"not an IPVS table header: {lines[0]!r}")
    for number, title in ((2, _TITLE_SERVICE), (3, _TITLE_DEST)):
        if number > len(lines) or lines[number - 1].split() != title:
            raise ParseError(path, number, f"expected the column titles {' '.join(title)!r}")

    services: list[VirtualService] = []
    current: VirtualService | None = None
    dests: list[RealServer] = []
    for number, line in enumerate(lines[3:], start=4):
        if line.startswith("  ->"):
            if current is None:
                raise ParseError(path, number, "real server line before any service")
            dests.append(_parse_dest(line, path, number))
            continue
        if current is not None:
            services.append(replace(current, real_servers=tuple(dests)))
        current, dests = _parse_service(line, path, number, hz, warnings), []
    if current is not None:
        services.append(replace(current, real_servers=tuple(dests)))
    return header.group(1), int(header.group(2)), services


def _parse_service(
    line: str, path: str, number: int, hz: int | None, warnings: list[str]
) -> VirtualService:
    match = _SERVICE.fullmatch(line)
    if match is not None:
        protocol = PROTOCOL_NAMES.get(match["proto"])
        if protocol is None:
            raise ParseError(path, number, f"unknown protocol {match['proto']!r}")
        address, family = _address(match["ip4"], match["ip6"], path, number)
        key = ServiceKey(protocol, family, address, int(match["port"], 16))
    else:
        match = _FWM.fullmatch(line)
        if match is None:
            raise ParseError(path, number, f"not a service or real server line: {line!r}")
        mark = int(match["mark"], 16)
        if mark == 0:
            raise ParseError(path, number, "firewall mark 0")
        family = None  # the file does not say
        key = ServiceKey("fwm", None, fwmark=mark)

    flags = ["hashed"]
    words = match["rest"].split()
    if words[:1] == ["ops"]:
        flags.append("onepacket")
        words = words[1:]
    timeout = prefix = None
    if words:
        if len(words) != 3 or words[0] != "persistent":
            raise ParseError(path, number, f"unexpected flags {' '.join(words)!r}")
        if not words[1].isdigit() or not re.fullmatch(r"[0-9A-F]{8}", words[2]):
            raise ParseError(path, number, f"bad persistence {' '.join(words)!r}")
        flags.insert(0, "persistent")
        jiffies = int(words[1])
        if hz:
            timeout = jiffies // hz
        else:
            warnings.append(
                f"{path}:{number}: persistence timeout of {key} unknown: the file gives "
                f"{jiffies} jiffies and the kernel's HZ is unknown (netlink gives seconds)"
            )
        prefix = _prefix(int(words[2], 16), family, key, path, number, warnings)
    return VirtualService(
        key=key,
        scheduler=match["sched"],
        flags=tuple(flags),
        persistence_timeout_seconds=timeout,
        persistence_prefix_length=prefix,
    )


def _prefix(value: int, family: str | None, key, path, number, warnings) -> int | None:
    """The printed netmask -> prefix length (see the module docstring)."""
    if family == "inet":
        plen = 32 - (~value & 0xFFFFFFFF).bit_length()
        if value == (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
            return plen
        warnings.append(f"{path}:{number}: netmask {value:08X} of {key} is not a prefix")
        return None
    if family == "inet6":
        # ntohl() of a host-order number: swapped on little-endian machines.
        for plen in (value, int.from_bytes(value.to_bytes(4, "big"), "little")):
            if 1 <= plen <= 128:
                return plen
        raise ParseError(path, number, f"IPv6 persistence prefix {value:08X}")
    return None  # FWM: IPv4 mask or IPv6 prefix length, the file does not say which


def _parse_dest(line: str, path: str, number: int) -> RealServer:
    match = _DEST.fullmatch(line)
    if match is None:
        raise ParseError(path, number, f"not a real server line: {line!r}")
    forward = FORWARD_NAMES.get(match["fwd"])
    if forward is None:
        raise ParseError(path, number, f"unknown forwarding method {match['fwd']!r}")
    address, _family = _address(match["ip4"], match["ip6"], path, number)
    return RealServer(
        address=address,
        port=int(match["port"], 16),
        forward=forward,
        weight=int(match["weight"]),
        active_connections=int(match["active"]),
        inactive_connections=int(match["inactive"]),
    )


def _address(ip4: str | None, ip6: str | None, path: str, number: int) -> tuple[str, str]:
    if ip4 is not None:
        return str(ipaddress.IPv4Address(int(ip4, 16))), "inet"
    try:
        return str(ipaddress.IPv6Address(ip6)), "inet6"
    except ValueError:
        raise ParseError(path, number, f"bad IPv6 address {ip6!r}") from None


def parse_ip_vs_stats(lines: list[str], path: str) -> tuple[Counters, Counters]:
    """Lines of /proc/net/ip_vs_stats -> (totals, rates)."""
    if len(lines) != 6:
        raise ParseError(path, min(len(lines), 6) or 1, f"expected 6 lines, found {len(lines)}")
    for number, title in zip((1, 2, 4, 5), _STATS_TITLES, strict=True):
        if lines[number - 1].split() != title:
            raise ParseError(path, number, f"expected {' '.join(title) or 'an empty line'!r}")
    return _hex_row(lines[2], path, 3), _hex_row(lines[5], path, 6)


def _hex_row(line: str, path: str, number: int) -> Counters:
    words = line.split()
    if len(words) != 5 or not all(_HEX.fullmatch(w) for w in words):
        raise ParseError(path, number, f"expected 5 hex numbers: {line!r}")
    return Counters(*(int(w, 16) for w in words))


def kernel_hz(procfs_root: str | os.PathLike = "/proc") -> int | None:
    """CONFIG_HZ of the running kernel, from /proc/config.gz or /boot/config-<release>.

    /boot is only asked for the live /proc: a saved copy may come from another machine.
    """
    root = Path(procfs_root)
    candidates = []
    with contextlib.suppress(OSError, EOFError, UnicodeDecodeError):
        candidates.append(gzip.decompress((root / "config.gz").read_bytes()).decode())
    if str(root) == "/proc":
        try:
            release = (root / "sys" / "kernel" / "osrelease").read_text().strip()
            candidates.append(Path(f"/boot/config-{release}").read_text())
        except (OSError, UnicodeDecodeError):
            pass
    for config in candidates:
        match = re.search(r"^CONFIG_HZ=(\d+)$", config, re.MULTILINE)
        if match:
            return int(match.group(1))
    return None
