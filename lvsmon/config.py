"""lvsmon's TOML configuration file (`lvsmon run`, `lvsmon config check`).

Every section and key is optional; an empty file runs the daemon with the defaults shown.
deploy/lvsmon.toml is the commented example, and the operator's guide lists the ranges.

    [daemon]
    status_socket = "/run/lvsmon/status.sock"  # `lvsmon status` and the Nagios checks ask here
    state_dir = "/var/lib/lvsmon" # drained.json of `lvsmon drain`, which the drain guard holds;
                                  # absent: $LVSMON_STATE_DIR, else /var/lib/lvsmon

    [log]
    target = "stderr"             # stderr (journald under systemd) or syslog
    facility = "daemon"           # syslog facility, e.g. local6 to route lvsmon to a file
    level = "info"                # debug, info, notice, warning, error
    syslog_socket = "/dev/log"

    [observer]                    # the VRRP observer: hears every advert on the segments
    enabled = true
    interfaces = []               # empty: every interface that is up, except loopback
    flap_threshold = 3            # flapping: more master changes than this ...
    flap_window = 60.0            # ... within this many seconds

    [ipvs]                        # periodic read of the IPVS table
    enabled = true
    interval = 5.0                # seconds between reads
    source = "auto"               # auto (netlink, else procfs), netlink or procfs
    procfs_root = "/proc"         # net/ip_vs* are read under this directory

    [exporter]                    # Prometheus metrics (the lvsmon_exporter frontend)
    enabled = true
    listen = [":10573"]           # "ADDRESS:PORT", "[IPv6]:PORT", ":PORT" (every address)
    web_config = "/etc/lvsmon/web.yml"   # TLS / basic auth (exporter toolkit format); absent: none

    [agentx]                      # SNMP through net-snmp's snmpd (the lvsmon_snmp frontend)
    enabled = false
    master = "/var/agentx/master" # a unix socket, or "tcp:HOST:PORT"
    timeout = 5.0                 # seconds, sent in the AgentX Open PDU (1..255)
    priority = 127                # registration priority (1..255, lower wins)
    base_oid = "1.3.6.1.4.1.8072.9999.9999.5866"

    [keepalived]
    config = "/etc/keepalived/keepalived.conf"   # absent: keepalived.conf not read
    id = "lb1"                    # keepalived's -i (config_id), for @lb1 lines

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

[snat] belongs to `lvsmon snat run` (lvsmon.snat.config); the daemon passes over it.

Reading collects every problem before it fails; each names the file, the line, the
section and the key: "/etc/lvsmon/lvsmon.toml:12: [ipvs] interval: 0.1 out of range 0.5..3600".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from lvsmon.config_reader import UNIX_SOCKET_PATH_MAX, Problems, Table, read_document, show
from lvsmon.errors import ConfigError  # noqa: F401 - callers catch lvsmon.config.ConfigError

FAMILIES = ("inet", "inet6")
DEFAULT_CONFIG_PATH = "/etc/lvsmon/lvsmon.toml"
DEFAULT_STATUS_SOCKET = "/run/lvsmon/status.sock"
IPVS_SOURCES = ("auto", "netlink", "procfs")
LOG_TARGETS = ("stderr", "syslog")
LOG_LEVELS = ("debug", "info", "notice", "warning", "error")
SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", *(f"local{n}" for n in range(8)),
)  # fmt: skip
# The exporter's default port; the exporter's documentation says why this one.
DEFAULT_EXPORTER_PORT = 10573
DEFAULT_LISTEN = (f":{DEFAULT_EXPORTER_PORT}",)
DEFAULT_AGENTX_MASTER = "/var/agentx/master"
DEFAULT_BASE_OID = "1.3.6.1.4.1.8072.9999.9999.5866"  # net-snmp's experimental arc, for now


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


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    status_socket: str = DEFAULT_STATUS_SOCKET
    # drained.json's directory, shared with `lvsmon drain` / `undrain` (they read this file
    # too); None: lvsmon.pool.resolve_state_dir's default ($LVSMON_STATE_DIR, /var/lib/lvsmon)
    state_dir: str | None = None


@dataclass(frozen=True, slots=True)
class LogConfig:
    target: str = "stderr"  # one of LOG_TARGETS
    facility: str = "daemon"  # one of SYSLOG_FACILITIES
    level: str = "info"  # one of LOG_LEVELS
    syslog_socket: str = "/dev/log"


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
    procfs_root: str = "/proc"  # net/ip_vs, net/ip_vs_stats... are read under it


@dataclass(frozen=True, slots=True)
class ExporterConfig:
    enabled: bool = True
    listen: tuple[str, ...] = DEFAULT_LISTEN
    web_config: str | None = None  # exporter-toolkit web config file; None: plain HTTP

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """(host, port) of each listen entry; host "" is every address."""
        return tuple(split_listen(entry) for entry in self.listen)


@dataclass(frozen=True, slots=True)
class AgentxConfig:
    enabled: bool = False
    master: str = DEFAULT_AGENTX_MASTER  # unix socket path, or "tcp:HOST:PORT"
    timeout: float = 5.0  # seconds (the Open PDU's timeout byte)
    priority: int = 127
    base_oid: str = DEFAULT_BASE_OID

    @property
    def master_address(self) -> tuple[str, str, int | None]:
        """("unix", path, None) or ("tcp", host, port)."""
        return split_agentx_master(self.master)


@dataclass(frozen=True, slots=True)
class KeepalivedConfig:
    config: str | None = None  # keepalived.conf; None: not read
    id: str | None = None  # keepalived's -i / --config-id


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    vrrp_instances: tuple[InstanceConfig, ...] = field(default=())
    daemon: DaemonConfig = DaemonConfig()
    log: LogConfig = LogConfig()
    observer: ObserverConfig = ObserverConfig()
    ipvs: IpvsConfig = IpvsConfig()
    exporter: ExporterConfig = ExporterConfig()
    agentx: AgentxConfig = AgentxConfig()
    keepalived: KeepalivedConfig = KeepalivedConfig()
    # The SNAT recorder's status file when the file has a [snat] table (the recorder runs
    # with it): the daemon then reads it for the status socket, the exporter and AgentX.
    snat_status_file: str | None = None


# -- reading ------------------------------------------------------------------------------


def read_toml(path: str | Path) -> dict:
    """The parsed TOML document (ConfigError when missing, unreadable or not TOML)."""
    return read_document(path).data


def load(path: str | Path) -> Config:
    """The checked configuration, [snat] included; ConfigError lists every problem."""
    from lvsmon.snat.config import from_document  # it reads through this module

    document = read_document(path)
    problems: list[str] = []
    config = snat = None
    try:
        config = parse(document.data, document.path, document.lines)
    except ConfigError as err:
        problems.extend(err.problems)
    if "snat" in document.data:
        try:
            snat = from_document(document)
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    return config if snat is None else replace(config, snat_status_file=snat.status_file)


# [snat] belongs to the separate `lvsmon snat run` process (lvsmon.snat.config reads and
# checks it), so one file can serve both; the daemon passes over it.
_SECTIONS = ("daemon", "log", "observer", "ipvs", "exporter", "agentx", "keepalived", "vrrp",
             "snat")  # fmt: skip


def parse(document: dict, where: str = "config", lines: dict | None = None) -> Config:
    """Check a parsed document; `lines` (lvsmon.toml_lines.locate) puts lines in messages."""
    problems = Problems(where, lines)
    root = Table.root(problems, document)
    for name in document:
        if name not in _SECTIONS:
            what = "section" if isinstance(document[name], dict) else "key outside a section"
            unknown = Table(problems, {}, (name,), f"[{name}]")
            unknown.fail(None, f"unknown {what} (sections: {', '.join(_SECTIONS)})")
    config = Config(
        path=where,
        vrrp_instances=_vrrp(root),
        daemon=_daemon(root.section("daemon", ("status_socket", "state_dir"))),
        log=_log(root.section("log", ("target", "facility", "level", "syslog_socket"))),
        observer=_observer(root.section("observer", ("enabled", "interfaces", "flap_threshold",
                                                     "flap_window"))),  # fmt: skip
        ipvs=_ipvs(root.section("ipvs", ("enabled", "interval", "source", "procfs_root"))),
        exporter=_exporter(root.section("exporter", ("enabled", "listen", "web_config"))),
        agentx=_agentx(root.section("agentx", ("enabled", "master", "timeout", "priority",
                                               "base_oid"))),  # fmt: skip
        keepalived=_keepalived(root.section("keepalived", ("config", "id"))),
    )
    problems.raise_if_any()
    return config


# -- the sections -------------------------------------------------------------------------


def _daemon(read: Table) -> DaemonConfig:
    return DaemonConfig(
        status_socket=read.absolute_path("status_socket", DEFAULT_STATUS_SOCKET, socket=True),
        state_dir=read.absolute_path("state_dir", None),
    )


def _log(read: Table) -> LogConfig:
    return LogConfig(
        target=read.choice("target", LOG_TARGETS, "stderr"),
        facility=read.choice("facility", SYSLOG_FACILITIES, "daemon"),
        level=read.choice("level", LOG_LEVELS, "info"),
        syslog_socket=read.absolute_path("syslog_socket", "/dev/log", socket=True),
    )


def _observer(read: Table) -> ObserverConfig:
    return ObserverConfig(
        enabled=read.boolean("enabled", True),
        interfaces=read.strings("interfaces"),
        flap_threshold=read.integer("flap_threshold", 1, 1000, default=3),
        flap_window=read.number("flap_window", 1, 86400, 60.0),
    )


def _ipvs(read: Table) -> IpvsConfig:
    return IpvsConfig(
        enabled=read.boolean("enabled", True),
        interval=read.number("interval", 0.5, 3600, 5.0),
        source=read.choice("source", IPVS_SOURCES, "auto"),
        procfs_root=read.absolute_path("procfs_root", "/proc"),
    )


def _exporter(read: Table) -> ExporterConfig:
    enabled = read.boolean("enabled", True)
    listen = read.get("listen", list, None)
    entries = []
    for index, entry in enumerate(listen or ()):
        if not isinstance(entry, str):
            read.fail("listen", f"{show(entry)} must be a string \"ADDRESS:PORT\"", index)
            continue
        try:
            split_listen(entry)
        except ValueError as why:
            read.fail("listen", f"{show(entry)}: {why}", index)
            continue
        if entry in entries:
            read.fail("listen", f"{show(entry)} given twice", index)
            continue
        entries.append(entry)
    if listen is not None and not listen and enabled:
        read.fail("listen", "empty: give an address, or set enabled = false")
    return ExporterConfig(
        enabled=enabled,
        listen=tuple(entries) if listen else DEFAULT_LISTEN,
        web_config=read.absolute_path("web_config", None),
    )


def _agentx(read: Table) -> AgentxConfig:
    master = read.get("master", str, DEFAULT_AGENTX_MASTER)
    try:
        split_agentx_master(master)
    except ValueError as why:
        read.fail("master", f"{show(master)}: {why}")
        master = DEFAULT_AGENTX_MASTER
    base_oid = read.get("base_oid", str, DEFAULT_BASE_OID)
    if not _is_oid(base_oid):
        read.fail("base_oid", f"{show(base_oid)} is not a dotted numeric OID of 2 arcs or more "
                  '(e.g. "1.3.6.1.4.1.8072")')  # fmt: skip
        base_oid = DEFAULT_BASE_OID
    return AgentxConfig(
        enabled=read.boolean("enabled", False),
        master=master,
        timeout=read.number("timeout", 1, 255, 5.0),
        priority=read.integer("priority", 1, 255, default=127),
        base_oid=base_oid,
    )


def _keepalived(read: Table) -> KeepalivedConfig:
    config_id = read.get("id", str, None)
    if config_id is not None and not re.fullmatch(r"[^\s/]+", config_id):
        read.fail("id", f"{show(config_id)} must be a non-empty word (keepalived's -i)")
        config_id = None
    return KeepalivedConfig(config=read.absolute_path("config", None), id=config_id)


# -- values shared with the frontends ----------------------------------------------------------


def split_listen(entry: str) -> tuple[str, int]:
    """("ADDRESS", PORT) of "ADDRESS:PORT", "[IPv6]:PORT" or ":PORT" (address ""); ValueError."""
    host, colon, port = entry.rpartition(":")
    if not colon:
        raise ValueError('not "ADDRESS:PORT" (":PORT" for every address)')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if _ip_version(host) != 6:
            raise ValueError(f"{host} in brackets is not an IPv6 address")
    elif host:
        version = _ip_version(host)
        if version == 6:
            raise ValueError("an IPv6 address goes in brackets: [ADDRESS]:PORT")
        if version is None:
            raise ValueError(f"{host} is not an IP address (names are not looked up)")
    return host, _port(port)


def split_agentx_master(master: str) -> tuple[str, str, int | None]:
    """("unix", PATH, None) or ("tcp", HOST, PORT) of an [agentx] master; ValueError."""
    if master.startswith("tcp:"):
        host, colon, port = master[4:].rpartition(":")
        if host.startswith("[") and host.endswith("]") and _ip_version(host[1:-1]) == 6:
            host = host[1:-1]
        elif not colon or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
            raise ValueError('not "tcp:HOST:PORT" (an IPv6 address in brackets)')
        return "tcp", host, _port(port)
    if not master.startswith("/"):
        raise ValueError('must be an absolute unix socket path or "tcp:HOST:PORT"')
    if len(master.encode()) > UNIX_SOCKET_PATH_MAX:
        raise ValueError(f"too long for a unix socket ({UNIX_SOCKET_PATH_MAX} bytes at most)")
    return "unix", master, None


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"port {text or '(none)'} is not 1..65535")
    return int(text)


def _ip_version(text: str) -> int | None:
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


def _is_oid(text: str) -> bool:
    arcs = text.split(".")
    return (
        len(arcs) >= 2
        and all(arc.isdigit() and int(arc) < 2**32 for arc in arcs)
        and int(arcs[0]) <= 2
    )


# -- the VRRP participant -------------------------------------------------------------------

_INSTANCE_KEYS = (
    "name", "interface", "vrid", "priority", "version", "family", "advert_interval", "vips",
    "preempt", "nopreempt", "preempt_delay", "auth_pass", "unicast_peers", "unicast_source",
    "notify", "vmac", "track",
)  # fmt: skip
_TRACK_KEYS = ("name", "command", "interval", "timeout", "weight", "fault")


def _vrrp(root: Table) -> tuple[InstanceConfig, ...]:
    vrrp = root.section("vrrp", ("instance",))
    tables = vrrp.get("instance", list, [])
    instances: list[InstanceConfig] = []
    names: dict[str, int] = {}
    groups: dict[tuple, int] = {}
    for index, table in enumerate(tables):
        name = _instance_name(table, index)
        read = vrrp.child("instance", f"[[vrrp.instance]] {name}:", _INSTANCE_KEYS, index=index)
        if not isinstance(table, dict):
            continue
        if name in names:
            read.fail("name", f"{show(name)} is used by instance #{names[name] + 1} too")
        names.setdefault(name, index)
        instance = _instance(read, index)
        if instance is None:
            continue
        group = (instance.interface, instance.family, instance.vrid)
        if group in groups:
            read.fail("vrid", f"{instance.vrid} on {instance.interface} ({instance.family}) "
                      f"is configured by instance #{groups[group] + 1} too")  # fmt: skip
        groups.setdefault(group, index)
        instances.append(instance)
    return tuple(instances)


def _instance_name(table, index: int) -> str:
    if not isinstance(table, dict):
        return f"#{index + 1}"
    name = table.get("name")
    if isinstance(name, str) and name:
        return name
    return f"vrid{table.get('vrid')}-{table.get('interface')}"


def _family(network) -> str:
    return "inet" if network.version == 4 else "inet6"


def _instance(read: Table, index: int) -> InstanceConfig | None:
    """The instance, or None when a value it cannot do without is bad (already a problem)."""
    name = read.get("name", str, None)
    if name == "":
        read.fail("name", "must not be empty")
    interface = read.get("interface", str, required=True)
    vrid = read.integer("vrid", 1, 255, required=True)
    priority = read.integer("priority", 1, 255, default=100)
    version = read.integer("version", 2, 3, default=3)
    networks = []
    for position, vip in enumerate(read.strings("vips")):
        try:
            networks.append(ipaddress.ip_interface(vip if "/" in vip else _host_prefix(vip)))
        except ValueError:
            read.fail("vips", f"{show(vip)} is not an address with an optional /prefix", position)
    if "vips" not in read.data or (not read.data["vips"] and isinstance(read.data["vips"], list)):
        read.fail("vips", "required (at least one virtual address)")
    families = {_family(network) for network in networks}
    if len(families) > 1:
        read.fail("vips", "mixes IPv4 and IPv6: use one instance per family")
    family = read.get("family", str, families.pop() if len(families) == 1 else "inet")
    if family not in FAMILIES:
        read.fail("family", f"{show(family)} is not one of {', '.join(FAMILIES)}")
        family = None
    elif any(_family(network) != family for network in networks) and "family" in read.data:
        read.fail("vips", f"not all {family} like family")
    if version == 2 and family == "inet6":
        read.fail("version", "2 is IPv4 only (RFC 3768): use version 3 for IPv6")
    interval = read.number("advert_interval", 0.01, 40.95, 1.0)
    if version == 2 and interval != int(interval):
        read.fail("advert_interval", f"{interval:g}: VRRPv2 sends whole seconds")
    preempt = read.boolean("preempt", True)
    if read.boolean("nopreempt", False):
        preempt = False
    auth_pass = read.get("auth_pass", str)
    if auth_pass is not None:
        if version != 2:
            read.fail("auth_pass", "VRRPv2 only (VRRPv3 has no authentication)")
        if not 1 <= len(auth_pass.encode()) <= 8:
            read.fail("auth_pass", "must be 1..8 bytes (keepalived cuts it at 8)")
    peers = read.strings("unicast_peers")
    for position, peer in enumerate(peers):
        _check_address(read, "unicast_peers", peer, family, position)
    source = read.get("unicast_source", str)
    if source is not None:
        _check_address(read, "unicast_source", source, family)
    vmac = read.boolean("vmac", False)
    if vmac and family == "inet6":
        read.fail("vmac", "true is IPv4 only for now (IPv6 sends from the interface MAC)")
    tracks = _tracks(read, name or _instance_name(read.data, index))
    if priority == 255 and tracks:
        read.fail("priority", "255 (address owner) cannot have track commands")
    if interface is None or vrid is None or not networks or family is None:
        return None
    return InstanceConfig(
        name=name or f"vrid{vrid}-{interface}",
        interface=interface,
        vrid=vrid,
        priority=priority,
        vips=tuple(str(network) for network in networks),
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


def _check_address(read: Table, key: str, text: str, family: str | None,
                   index: int | None = None) -> None:  # fmt: skip
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        read.fail(key, f"{show(text)} is not an IP address", index)
        return
    if family is not None and _family(address) != family:
        read.fail(key, f"{text} is not {family} like the vips", index)


def _tracks(instance: Table, instance_name: str) -> tuple[TrackConfig, ...]:
    tables = instance.get("track", list, [])
    tracks = []
    for index, table in enumerate(tables):
        name = table.get("name") if isinstance(table, dict) else None
        name = name if isinstance(name, str) and name else f"track{index + 1}"
        label = f"[[vrrp.instance.track]] {instance_name}/{name}:"
        read = instance.child("track", label, _TRACK_KEYS, index=index)
        if isinstance(table, dict):
            track = _track(read, name)
            if track is not None:
                tracks.append(track)
    return tuple(tracks)


def _track(read: Table, name: str) -> TrackConfig | None:
    read.get("name", str)
    command = read.strings("command")
    if "command" not in read.data or read.data["command"] == []:
        read.fail("command", "required (a list: program and arguments, no shell)")
    weight = read.integer("weight", -254, 254, default=None)
    fault = read.boolean("fault", False)
    if not weight and not fault and (weight == 0 or "weight" not in read.data):
        read.fail("weight", "set weight (non-zero) or fault = true, or the track does nothing")
    interval = read.number("interval", 0.1, 86400, 2.0)
    timeout = read.number("timeout", 0.05, 3600, min(1.0, interval))
    if not command:
        return None
    return TrackConfig(name, command, interval, timeout, weight or 0, fault)
