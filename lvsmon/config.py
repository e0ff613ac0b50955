"""lvsmon's TOML configuration file. Sections are added by the parts that need them.

Every section is optional; an empty file runs the daemon with the defaults shown.

    [daemon]
    status_socket = "/run/lvsmon/status.sock"  # `lvsmon status` and the Nagios checks ask here

    [observer]                    # the VRRP observer: hears every advert on the segments
    enabled = true
    interfaces = []               # empty: every interface that is up, except loopback
    flap_threshold = 3            # flapping: more master changes than this ...
    flap_window = 60.0            # ... within this many seconds

    [ipvs]                        # periodic read of the IPVS table
    enabled = true
    interval = 5.0                # seconds between reads
    source = "auto"               # auto (netlink, else procfs), netlink or procfs

[vrrp] holds the optional VRRP participant (off unless instances are configured):

    [[vrrp.instance]]
    name = "web"                  # for logs and notify hooks; default "vrid<VRID>-<interface>"
    interface = "eth0"
    vrid = 51
    priority = 150                # 1..255; 255 = address owner
    version = 3                   # 3 (RFC 5798) or 2 (RFC 3768, IPv4 only)
    advert_interval = 1.0         # seconds; v2 whole seconds
    vips = ["10.0.0.100/24"]      # all of one family; family follows them
    preempt = true                # false = nopreempt
    preempt_delay = 0             # seconds after start-up without preempting
    auth_pass = "secret"          # v2 only: auth_type PASS, at most 8 characters
    unicast_peers = ["10.0.0.12"] # empty: multicast 224.0.0.18 / ff02::12
    unicast_source = "10.0.0.11"  # default: the interface's primary address
    notify = ["/usr/local/bin/vrrp-notify", "--from-lvsmon"]  # + instance, state, priority
    vmac = false                  # true (IPv4): VIPs on macvlan "vrrp.<VRID>" with the RFC's
                                  # virtual MAC 00:00:5e:00:01:<VRID>, like keepalived's use_vmac

    [[vrrp.instance.track]]
    name = "nginx"
    command = ["/usr/bin/pgrep", "-x", "nginx"]   # argv, no shell
    interval = 2.0                # seconds between runs
    timeout = 1.0                 # killed (whole process group) after this; counts as failure
    weight = -60                  # added to the priority while failing ...
    fault = false                 # ... or true: the instance goes to FAULT while failing

Errors name the file, the instance and the key:
"lvsmon.toml: instance web: priority 300 out of range 1..255".
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lvsmon.errors import UsageError

FAMILIES = ("inet", "inet6")


class ConfigError(UsageError):
    """The configuration file is missing, not TOML, or has a bad value."""


@dataclass(frozen=True, slots=True)
class TrackConfig:
    name: str
    command: tuple[str, ...]
    interval: float = 2.0
    timeout: float = 1.0
    weight: int = 0
    fault: bool = False


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    name: str
    interface: str
    vrid: int
    priority: int
    vips: tuple[str, ...]  # with prefix length, e.g. "10.0.0.100/24"
    family: str = "inet"
    version: int = 3
    advert_interval: float = 1.0
    preempt: bool = True
    preempt_delay: float = 0.0
    auth_pass: str | None = None
    unicast_peers: tuple[str, ...] = ()
    unicast_source: str | None = None
    notify: tuple[str, ...] = ()
    vmac: bool = False
    tracks: tuple[TrackConfig, ...] = ()


DEFAULT_STATUS_SOCKET = "/run/lvsmon/status.sock"
IPVS_SOURCES = ("auto", "netlink", "procfs")


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    status_socket: str = DEFAULT_STATUS_SOCKET


@dataclass(frozen=True, slots=True)
class ObserverConfig:
    enabled: bool = True
    interfaces: tuple[str, ...] = ()  # empty: every interface that is up, except loopback
    flap_threshold: int = 3
    flap_window: float = 60.0


@dataclass(frozen=True, slots=True)
class IpvsConfig:
    enabled: bool = True
    interval: float = 5.0
    source: str = "auto"


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    vrrp_instances: tuple[InstanceConfig, ...] = field(default=())
    daemon: DaemonConfig = DaemonConfig()
    observer: ObserverConfig = ObserverConfig()
    ipvs: IpvsConfig = IpvsConfig()


_INSTANCE_KEYS = {
    "name", "interface", "vrid", "priority", "version", "family", "advert_interval", "vips",
    "preempt", "nopreempt", "preempt_delay", "auth_pass", "unicast_peers", "unicast_source",
    "notify", "vmac", "track",
}  # fmt: skip
_TRACK_KEYS = {"name", "command", "interval", "timeout", "weight", "fault"}


def read_toml(path: str | Path) -> dict:
    """The parsed TOML document; every part of lvsmon reads its file through this."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def load(path: str | Path) -> Config:
    return parse(read_toml(path), str(path))


# [snat] belongs to the separate `lvsmon snat run` process (lvsmon.snat.config reads and
# checks it), so one file can serve both; the daemon passes over it.
_SECTIONS = ("vrrp", "daemon", "observer", "ipvs", "snat")


def parse(document: dict, where: str = "config") -> Config:
    unknown = set(document) - set(_SECTIONS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown section [{sorted(unknown)[0]}] (known: {', '.join(_SECTIONS)})"
        )
    vrrp = document.get("vrrp", {})
    if not isinstance(vrrp, dict):
        raise ConfigError(f"{where}: [vrrp] must be a table")
    unknown = set(vrrp) - {"instance"}
    if unknown:
        raise ConfigError(f"{where}: [vrrp]: unknown key {sorted(unknown)[0]!r}")
    tables = vrrp.get("instance", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{where}: vrrp.instance must be an array of tables ([[vrrp.instance]])")
    instances = tuple(_instance(table, where, index) for index, table in enumerate(tables))
    seen_names, seen_groups = set(), set()
    for instance in instances:
        if instance.name in seen_names:
            raise ConfigError(f"{where}: instance {instance.name}: name used twice")
        group = (instance.interface, instance.family, instance.vrid)
        if group in seen_groups:
            raise ConfigError(
                f"{where}: instance {instance.name}: VRID {instance.vrid} on "
                f"{instance.interface} ({instance.family}) configured twice"
            )
        seen_names.add(instance.name)
        seen_groups.add(group)
    return Config(
        path=where,
        vrrp_instances=instances,
        daemon=_daemon(_section(document, "daemon", where), where),
        observer=_observer(_section(document, "observer", where), where),
        ipvs=_ipvs(_section(document, "ipvs", where), where),
    )


def _section(document: dict, name: str, where: str) -> _Reader:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return _Reader(table, f"{where}: [{name}]")


def _known(read: _Reader, keys: set[str]) -> None:
    unknown = set(read.table) - keys
    if unknown:
        read.fail(f"unknown key {sorted(unknown)[0]!r}")


def _daemon(read: _Reader, where: str) -> DaemonConfig:
    _known(read, {"status_socket"})
    path = read.get("status_socket", str, default=DEFAULT_STATUS_SOCKET)
    if not path.startswith("/"):
        read.fail(f"status_socket {path!r} must be an absolute path")
    if len(path.encode()) > 107:
        read.fail("status_socket path too long for a unix socket (107 bytes at most)")
    return DaemonConfig(status_socket=path)


def _observer(read: _Reader, where: str) -> ObserverConfig:
    _known(read, {"enabled", "interfaces", "flap_threshold", "flap_window"})
    return ObserverConfig(
        enabled=read.get("enabled", bool, default=True),
        interfaces=read.strings("interfaces"),
        flap_threshold=read.integer("flap_threshold", 1, 1000, default=3),
        flap_window=read.number("flap_window", 1, 86400, 60.0),
    )


def _ipvs(read: _Reader, where: str) -> IpvsConfig:
    _known(read, {"enabled", "interval", "source"})
    source = read.get("source", str, default="auto")
    if source not in IPVS_SOURCES:
        read.fail(f"source {source!r} is not one of {', '.join(IPVS_SOURCES)}")
    return IpvsConfig(
        enabled=read.get("enabled", bool, default=True),
        interval=read.number("interval", 0.5, 3600, 5.0),
        source=source,
    )


class _Reader:
    """Typed access to one table, with errors that say where."""

    def __init__(self, table: dict, where: str):
        self.table = table
        self.where = where

    def fail(self, message: str):
        raise ConfigError(f"{self.where}: {message}")

    def get(self, key, kinds, default=None, required=False):
        if key not in self.table:
            if required:
                self.fail(f"{key} is required")
            return default
        value = self.table[key]
        # bool is an int in Python: never accept it where a number is wanted.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _tuple(kinds)):
            wanted = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in _tuple(kinds))
            self.fail(f"{key} {value!r} must be {wanted}")
        return value

    def integer(self, key, low, high, default=None, required=False):
        value = self.get(key, int, default, required)
        if value is not None and not low <= value <= high:
            self.fail(f"{key} {value} out of range {low}..{high}")
        return value

    def number(self, key, low, high, default):
        value = self.get(key, (int, float), default)
        if not low <= value <= high:
            self.fail(f"{key} {value} out of range {low:g}..{high:g}")
        return float(value)

    def strings(self, key, default=()):
        value = self.get(key, list, list(default))
        if not all(isinstance(item, str) and item for item in value):
            self.fail(f"{key} must be a list of non-empty strings")
        return tuple(value)


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list"}  # fmt: skip


def _tuple(kinds):
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _instance(table, where: str, index: int) -> InstanceConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: vrrp.instance #{index + 1} must be a table")
    interface = table.get("interface")
    default_name = f"vrid{table.get('vrid')}-{interface}"
    name = table.get("name", default_name)
    read = _Reader(table, f"{where}: instance {name}")
    read.get("name", str)
    unknown = set(table) - _INSTANCE_KEYS
    if unknown:
        read.fail(f"unknown key {sorted(unknown)[0]!r}")
    interface = read.get("interface", str, required=True)
    vrid = read.integer("vrid", 1, 255, required=True)
    priority = read.integer("priority", 1, 255, default=100)
    version = read.integer("version", 2, 3, default=3)
    vips = read.strings("vips")
    if not vips:
        read.fail("vips is required (at least one virtual address)")
    networks = []
    for vip in vips:
        try:
            networks.append(ipaddress.ip_interface(vip if "/" in vip else _host_prefix(vip)))
        except ValueError:
            read.fail(f"vips: {vip!r} is not an address with an optional /prefix")
    families = {"inet" if n.version == 4 else "inet6" for n in networks}
    if len(families) > 1:
        read.fail("vips mixes IPv4 and IPv6: use one instance per family")
    family = read.get("family", str, default=families.pop())
    if family not in FAMILIES:
        read.fail(f"family {family!r} is not one of {', '.join(FAMILIES)}")
    if any(("inet" if n.version == 4 else "inet6") != family for n in networks):
        read.fail(f"vips are not all {family}")
    if version == 2 and family == "inet6":
        read.fail("version 2 is IPv4 only (RFC 3768): use version 3 for IPv6")
    interval = read.number("advert_interval", 0.01, 40.95, 1.0)
    if version == 2 and (interval != int(interval) or interval > 255):
        read.fail(f"advert_interval {interval:g}: VRRPv2 sends whole seconds (1..255)")
    if version == 3 and round(interval * 100) < 1:
        read.fail(f"advert_interval {interval:g}: VRRPv3 needs at least 0.01 s")
    preempt = read.get("preempt", bool, default=True)
    if read.get("nopreempt", bool, default=False):
        preempt = False
    auth_pass = read.get("auth_pass", str)
    if auth_pass is not None:
        if version != 2:
            read.fail("auth_pass is VRRPv2 only (VRRPv3 has no authentication)")
        if not 1 <= len(auth_pass.encode()) <= 8:
            read.fail("auth_pass must be 1..8 bytes (keepalived cuts it at 8)")
    peers = read.strings("unicast_peers")
    for peer in peers:
        _check_address(read, "unicast_peers", peer, family)
    source = read.get("unicast_source", str)
    if source is not None:
        _check_address(read, "unicast_source", source, family)
    vmac = read.get("vmac", bool, default=False)
    if vmac and family != "inet":
        read.fail("vmac = true is IPv4 only for now (IPv6 sends from the interface MAC)")
    if vmac and len(f"vrrp.{vrid}") > 15:
        read.fail("vmac interface name too long")
    tracks_table = read.get("track", list, default=[])
    tracks = tuple(_track(t, read.where, i) for i, t in enumerate(tracks_table))
    if priority == 255 and tracks:
        read.fail("priority 255 (address owner) cannot have track commands")
    return InstanceConfig(
        name=name,
        interface=interface,
        vrid=vrid,
        priority=priority,
        vips=tuple(str(n) for n in networks),
        family=family,
        version=version,
        advert_interval=interval,
        preempt=preempt,
        preempt_delay=read.number("preempt_delay", 0, 3600, 0.0),
        auth_pass=auth_pass,
        unicast_peers=peers,
        unicast_source=source,
        notify=read.strings("notify"),
        vmac=vmac,
        tracks=tracks,
    )


def _host_prefix(vip: str) -> str:
    return f"{vip}/128" if ":" in vip else f"{vip}/32"


def _check_address(read: _Reader, key: str, text: str, family: str) -> None:
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        read.fail(f"{key}: {text!r} is not an IP address")
    if ("inet" if address.version == 4 else "inet6") != family:
        read.fail(f"{key}: {text} is not {family} like the vips")


def _track(table, where: str, index: int) -> TrackConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: track #{index + 1} must be a table")
    name = table.get("name", f"track{index + 1}")
    read = _Reader(table, f"{where}: track {name}")
    read.get("name", str)
    unknown = set(table) - _TRACK_KEYS
    if unknown:
        read.fail(f"unknown key {sorted(unknown)[0]!r}")
    command = read.strings("command")
    if not command:
        read.fail("command is required (a list: program and arguments, no shell)")
    weight = read.integer("weight", -254, 254, default=0)
    fault = read.get("fault", bool, default=False)
    if not weight and not fault:
        read.fail("set weight (non-zero) or fault = true, or the track does nothing")
    interval = read.number("interval", 0.1, 86400, 2.0)
    timeout = read.number("timeout", 0.05, 3600, min(1.0, interval))
    return TrackConfig(name, command, interval, timeout, weight, fault)
