"""What keepalived.conf configures, as lvsmon.keepalived reads it: VRRP instances and LVS.

Values are keepalived's after its own defaults and corrections (priority 100,
advert_int 1, weight 1, NAT, ...), so they compare directly with what the wire
(lvsmon.vrrp) and the kernel (lvsmon.ipvs) show. Services are ``ServiceKey``s
and forwarding methods ``lvsmon ipvs`` words; addresses are normalised as
``lvsmon.ipvs.parse_real_server`` does. ``where`` is the ``FILE:LINE`` that
defines a thing, for messages.

A VRRP password is never kept: only a salted PBKDF2 digest of the 8 bytes
keepalived sends (``auth_pass_matches`` compares what a router sent with it).

JSON goes through lvsmon.model.codec like every snapshot (``to_json(conf)`` is what
``lvsmon keepalived show --json`` prints); ``_json_extras`` add the spellings people and
jq read (``advert_int`` in seconds, ``service`` and ``ADDRESS:PORT`` as ``lvsmon drain``
writes them), which a reader passes over.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field

from lvsmon.model.addresses import join_host_port
from lvsmon.model.frozen import EMPTY, FrozenDict
from lvsmon.model.ipvs import ServiceKey

# keepalived's lvs_method / lb_kind words, in lvsmon ipvs's words.
METHODS = {"NAT": "masq", "DR": "route", "TUN": "tunnel"}
# The checker blocks of a real_server, as keepalived 2.2 names them.
CHECKER_KINDS = (
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
    "PING_CHECK",
    "UDP_CHECK",
)
AUTH_TYPES = ("none", "simple", "ah")  # as lvsmon.model.Advert spells them
STATES = ("MASTER", "BACKUP")  # the initial state keepalived starts an instance in

_AUTH_PASS_LENGTH = 8  # keepalived truncates auth_pass to the 8 bytes of the VRRPv2 header
_DIGEST_ROUNDS = 20_000


def auth_pass_digest(instance_name: str, auth_pass: str | bytes) -> str:
    """The digest kept instead of a VRRP password (salted with the instance name)."""
    data = auth_pass.encode("utf-8", "surrogateescape") if isinstance(auth_pass, str) else auth_pass
    padded = data[:_AUTH_PASS_LENGTH].ljust(_AUTH_PASS_LENGTH, b"\0")
    salt = b"lvsmon vrrp auth_pass " + instance_name.encode("utf-8", "surrogateescape")
    return hashlib.pbkdf2_hmac("sha256", padded, salt, _DIGEST_ROUNDS).hex()


@dataclass(frozen=True, slots=True)
class Vip:
    """One virtual_ipaddress line: the address, its prefix and the `dev` given (None: none)."""

    address: str
    prefix_length: int
    interface: str | None = None

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix_length}"


@dataclass(frozen=True, slots=True)
class TrackScript:
    """A vrrp_script an instance tracks, with the weight it adds or takes away."""

    name: str
    weight: int = 0


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    name: str
    vrid: int
    state: str  # one of STATES
    priority: int
    advert_interval_centiseconds: int
    version: int
    family: str  # "inet" / "inet6"
    interface: str | None = None  # None: unicast without an interface
    auth_type: str = "none"  # one of AUTH_TYPES
    auth_pass_digest: str | None = None  # see auth_pass_digest(); None without a password
    unicast_src_ip: str | None = None  # the configured source (unicast_src_ip / mcast_src_ip)
    unicast_peers: tuple[str, ...] = ()
    vips: tuple[Vip, ...] = ()
    nopreempt: bool = False
    track_scripts: tuple[TrackScript, ...] = ()
    where: str = ""

    _json_extras = {"advert_int": "advert_interval_seconds"}

    @property
    def advert_interval_seconds(self) -> float:
        return self.advert_interval_centiseconds / 100

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peers)

    @property
    def vip_addresses(self) -> tuple[str, ...]:
        """The addresses as a VRRP advert carries them."""
        return tuple(vip.address for vip in self.vips)

    def auth_pass_matches(self, auth_data: bytes) -> bool:
        """Whether a VRRPv2 advert's 8 authentication bytes carry the configured password."""
        if self.auth_pass_digest is None:
            return False
        return hmac.compare_digest(auth_pass_digest(self.name, auth_data), self.auth_pass_digest)


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup:
    name: str
    instances: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One line of a virtual_server_group: an address (range) and port, or a firewall mark."""

    first_address: str | None = None
    last_address: str | None = None  # == first_address for a single address
    port: int = 0
    fwmark: int | None = None
    family: str | None = None  # "inet"/"inet6"; None for a fwmark given without one

    @property
    def is_fwmark(self) -> bool:
        return self.fwmark is not None

    @property
    def address_count(self) -> int:
        if self.first_address is None or self.last_address is None:
            return 0
        first = ipaddress.ip_address(self.first_address)
        return int(ipaddress.ip_address(self.last_address)) - int(first) + 1

    def contains(self, key: ServiceKey, protocol: str | None) -> bool:
        """Whether this member makes keepalived create the IPVS service `key`.

        `protocol` is the virtual server's (None for a fwmark-only group).
        """
        if self.is_fwmark:
            return (
                key.protocol == "fwm"
                and key.fwmark == self.fwmark
                and (self.family is None or key.family is None or key.family == self.family)
            )
        if key.protocol != protocol or key.address is None or key.port != self.port:
            return False
        assert self.first_address is not None and self.last_address is not None
        address = ipaddress.ip_address(key.address)
        first = ipaddress.ip_address(self.first_address)
        last = ipaddress.ip_address(self.last_address)
        return address.version == first.version and first <= address <= last

    def __str__(self) -> str:
        if self.is_fwmark:
            return f"fwmark {self.fwmark}" + (f" {self.family}" if self.family else "")
        span = self.first_address
        if self.last_address != self.first_address:
            span = f"{self.first_address}-{self.last_address}"
        return f"{span} port {self.port}"


@dataclass(frozen=True, slots=True)
class VirtualServerGroup:
    name: str
    members: tuple[GroupMember, ...]

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(sorted({m.family for m in self.members if m.family is not None}))


@dataclass(frozen=True, slots=True)
class Checker:
    """One health check of a real server: keepalived's block name and where it connects."""

    kind: str  # one of CHECKER_KINDS
    connect_ip: str | None = None  # None: the real server's address
    connect_port: int | None = None  # None: the real server's port
    track_file: str | None = None  # FILE_CHECK: the track_file it follows


@dataclass(frozen=True, slots=True)
class ConfiguredRealServer:
    ip: str  # the address (JSON "address" is ADDRESS:PORT, as lvsmon drain writes it)
    port: int  # 0 for a firewall-mark service's real server given without a port
    weight: int
    method: str  # masq / route / tunnel
    inhibit_on_failure: bool = False  # a failed check sets weight 0 instead of removing it
    upper_threshold: int = 0  # uthreshold; 0: none
    lower_threshold: int = 0  # lthreshold
    checkers: tuple[Checker, ...] = ()
    where: str = ""

    _json_extras = {"address": "endpoint"}

    @property
    def endpoint(self) -> str:
        """As lvsmon drain and ipvsadm write it: 10.0.0.2:80 or [2001:db8::2]:80."""
        return join_host_port(self.ip, self.port)


@dataclass(frozen=True, slots=True)
class SorryServer:
    """The server keepalived puts in when the quorum of real servers is lost."""

    address: str
    port: int
    method: str
    inhibit: bool = False  # sorry_server_inhibit: kept at weight 0 instead of removed

    @property
    def endpoint(self) -> str:
        return join_host_port(self.address, self.port)


@dataclass(frozen=True, slots=True)
class ConfiguredVirtualServer:
    """A virtual_server block: by address and port, by fwmark (`key`), or by group (`group`)."""

    scheduler: str
    method: str  # the default forwarding method of its real servers
    key: ServiceKey | None = None  # None for `virtual_server group NAME`
    group: str | None = None
    protocol: str | None = None  # tcp/udp/sctp; None for firewall-mark services
    family: str | None = None  # None: a group with both families
    persistence_timeout_seconds: int | None = None  # None: not persistent
    persistence_prefix_length: int | None = None  # persistence_granularity as a prefix
    quorum: int = 1
    hysteresis: int = 0
    inhibit_on_failure: bool = False
    sorry: SorryServer | None = None  # JSON "sorry_server" is its ADDRESS:PORT
    real_servers: tuple[ConfiguredRealServer, ...] = ()
    where: str = ""

    _json_extras = {
        "service": "service",
        "persistence_timeout": "persistence_timeout_seconds",
        "sorry_server": "sorry_endpoint",
        "sorry_server_method": "sorry_method",
        "sorry_server_inhibit": "sorry_inhibit",
    }

    @property
    def sorry_endpoint(self) -> str | None:
        return None if self.sorry is None else self.sorry.endpoint

    @property
    def sorry_method(self) -> str | None:
        return None if self.sorry is None else self.sorry.method

    @property
    def sorry_inhibit(self) -> bool:
        return self.sorry is not None and self.sorry.inhibit

    @property
    def service(self) -> str | None:
        """As lvsmon drain writes services (tcp:10.0.0.1:80, fwm:7); None for a group."""
        return None if self.key is None else str(self.key)

    @property
    def label(self) -> str:
        return self.service if self.key is not None else f"group {self.group}"

    def real_server(self, address: str, port: int) -> ConfiguredRealServer | None:
        for rs in self.real_servers:
            if rs.ip == address and rs.port == port:
                return rs
        return None


@dataclass(frozen=True, slots=True)
class TrackFile:
    """A track_file block: a file whose number sets a weight (FILE_CHECK, track_file)."""

    name: str
    path: str | None
    weight: int = 1

    _json_extras = {"file": "path"}


@dataclass(frozen=True, slots=True)
class KeepalivedConf:
    """One read of keepalived.conf (and everything it includes): a snapshot."""

    source: str  # the main file
    config_id: str  # what @id lines were matched against (keepalived's -i)
    files: tuple[str, ...] = ()  # every file read, main file first
    router_id: str | None = None
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    vrrp_sync_groups: tuple[VrrpSyncGroup, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[ConfiguredVirtualServer, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    # keyword path -> count, of every keyword lvsmon does not use, sorted by path
    skipped_keywords: FrozenDict[str, int] = EMPTY
    # FILE:LINE: what keepalived would correct or ignore (as it does), in file order
    warnings: tuple[str, ...] = field(default=())

    def instance(self, name: str) -> VrrpInstance | None:
        for instance in self.vrrp_instances:
            if instance.name == name:
                return instance
        return None

    def instance_for(self, interface: str, family: str, vrid: int) -> VrrpInstance | None:
        """The instance a VRRP segment view (interface, family, VRID) belongs to.

        A unicast instance without an interface matches on any interface.
        """
        for instance in self.vrrp_instances:
            if (instance.vrid, instance.family) == (vrid, family) and instance.interface in (
                interface, None,
            ):
                return instance
        return None

    def sync_group_of(self, instance_name: str) -> VrrpSyncGroup | None:
        for group in self.vrrp_sync_groups:
            if instance_name in group.instances:
                return group
        return None

    def virtual_server_group(self, name: str) -> VirtualServerGroup | None:
        for group in self.virtual_server_groups:
            if group.name == name:
                return group
        return None

    def virtual_server_for(self, key: ServiceKey) -> ConfiguredVirtualServer | None:
        """The virtual_server (plain or through its group) that makes IPVS service `key`."""
        for vs in self.virtual_servers:
            if vs.key is not None:
                if vs.key == key or (
                    key.protocol == "fwm"
                    and vs.key.fwmark == key.fwmark
                    and None in (key.family, vs.key.family)
                ):
                    return vs
                continue
            group = self.virtual_server_group(vs.group or "")
            if group and any(m.contains(key, vs.protocol) for m in group.members):
                return vs
        return None

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped_keywords.values())

