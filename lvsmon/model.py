"""The vocabulary every part of lvsmon shares.

Sources (lvsmon.ipvs, later lvsmon.vrrp and lvsmon.snat) build these frozen
snapshots; frontends only read them. Words follow ipvsadm and keepalived;
units are in the names. ``None`` always means "this source cannot know",
never zero.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

# ipvsadm's words for the forwarding methods, indexed by IP_VS_CONN_F_* value.
FORWARD_METHODS = ("masq", "local", "tunnel", "route", "bypass")


@dataclass(frozen=True, slots=True)
class Counters:
    """IPVS counters, or their per-second rate estimates (same names)."""

    connections: int | None = None
    packets_in: int | None = None
    packets_out: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None

    FIELDS = ("connections", "packets_in", "packets_out", "bytes_in", "bytes_out")

    def as_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in self.FIELDS}


UNKNOWN_COUNTERS = Counters()


@dataclass(frozen=True, slots=True)
class RealServer:
    address: str
    port: int
    forward: str  # one of FORWARD_METHODS
    weight: int
    active_connections: int
    inactive_connections: int
    upper_threshold: int | None = None
    lower_threshold: int | None = None
    persistent_connections: int | None = None
    stats: Counters = UNKNOWN_COUNTERS
    rates: Counters = UNKNOWN_COUNTERS

    @property
    def family(self) -> str:
        return family_of(self.address)

    @property
    def endpoint(self) -> str:
        """ipvsadm's spelling: 10.0.0.2:80 or [2001:db8::2]:80."""
        return join_host_port(self.address, self.port)


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """What identifies a virtual service: protocol+address+port, or a firewall mark."""

    protocol: str  # "tcp", "udp", "sctp", or "fwm" for firewall-mark services
    family: str | None  # "inet" / "inet6"; None where procfs cannot tell (FWM)
    address: str | None = None
    port: int | None = None
    fwmark: int | None = None

    def __str__(self) -> str:
        if self.protocol == "fwm":
            return f"fwm6:{self.fwmark}" if self.family == "inet6" else f"fwm:{self.fwmark}"
        return f"{self.protocol}:{join_host_port(self.address, self.port)}"


@dataclass(frozen=True, slots=True)
class VirtualService:
    key: ServiceKey
    scheduler: str
    flags: tuple[str, ...] = ()
    # None: not persistent, or unknown (procfs without the kernel's HZ; "persistent" in flags)
    persistence_timeout_seconds: int | None = None
    persistence_prefix_length: int | None = None  # netmask as a prefix length
    persistence_engine: str | None = None
    real_servers: tuple[RealServer, ...] = ()
    stats: Counters = UNKNOWN_COUNTERS
    rates: Counters = UNKNOWN_COUNTERS

    @property
    def protocol(self) -> str:
        return self.key.protocol

    @property
    def address(self) -> str | None:
        return self.key.address

    @property
    def port(self) -> int | None:
        return self.key.port

    @property
    def fwmark(self) -> int | None:
        return self.key.fwmark

    def real_server(self, address: str, port: int) -> RealServer | None:
        for rs in self.real_servers:
            if rs.address == address and rs.port == port:
                return rs
        return None


@dataclass(frozen=True, slots=True)
class IpvsTable:
    """One read of the whole IPVS table: a snapshot."""

    source: str  # "netlink" or "procfs"
    read_at_seconds: float  # time.time() when the read finished
    services: tuple[VirtualService, ...] = ()
    version: str | None = None
    connection_table_size: int | None = None
    stats: Counters = UNKNOWN_COUNTERS
    rates: Counters = UNKNOWN_COUNTERS
    warnings: tuple[str, ...] = field(default=())

    def service(self, key: ServiceKey) -> VirtualService | None:
        for svc in self.services:
            if svc.key == key:
                return svc
        return None


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP advertisement as heard on the wire (decoded by lvsmon.vrrp.codec).

    Words follow RFC 3768 (VRRPv2) and RFC 5798 (VRRPv3). Adverts that break
    a MUST of the RFC but can still be read (TTL not 255, bad checksum) are
    kept, with the anomaly visible in ``ttl_ok`` / ``checksum_ok``: an observer
    reports them instead of silently dropping them as a router would.
    """

    version: int  # 2 (RFC 3768) or 3 (RFC 5798)
    vrid: int
    priority: int  # 0: the master is releasing; 255: the address owner
    addresses: tuple[str, ...]  # the virtual addresses, in packet order
    family: str  # "inet" / "inet6"
    # v2 sends whole seconds, v3 centiseconds (12 bits); both stored exactly here.
    advert_interval_centiseconds: int
    source: str  # IP source: the sending router's primary address
    destination: str  # 224.0.0.18 / ff02::12, or a unicast peer
    ttl: int  # IPv4 TTL or IPv6 hop limit; the RFCs require 255
    checksum: int  # as received
    # Which computation the checksum matched (see lvsmon.vrrp.codec.CHECKSUM_FORMS);
    # None: it matched none of them.
    checksum_form: str | None
    auth_type: str | None = None  # v2 only: "none", "simple", "ah", or "unknown-<n>"
    auth_data: bytes = b""  # v2 only: the 8 bytes as received

    @property
    def advert_interval_seconds(self) -> float:
        return self.advert_interval_centiseconds / 100

    @property
    def ttl_ok(self) -> bool:
        return self.ttl == 255

    @property
    def checksum_ok(self) -> bool:
        return self.checksum_form is not None

    @property
    def password(self) -> str | None:
        """The v2 simple-text password (auth type 1), without its zero padding."""
        if self.auth_type != "simple":
            return None
        return self.auth_data.rstrip(b"\0").decode("latin-1")

    @property
    def anomalies(self) -> tuple[str, ...]:
        """What is wrong with this advert though it could be read."""
        found = []
        if not self.ttl_ok:
            found.append("bad_ttl")
        if not self.checksum_ok:
            found.append("bad_checksum")
        return tuple(found)


def family_of(address: str) -> str:
    return "inet6" if ipaddress.ip_address(address).version == 6 else "inet"


def join_host_port(address: str | None, port: int | None) -> str:
    if address is None:
        return "?"
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class SnatConnection:
    """One source-NATed connection as conntrack saw it (lvsmon.snat).

    "Inside" is the client's own address (original tuple source), "translated" is what the
    far side saw (reply tuple destination). ``original_destination`` is what the client
    addressed (e.g. an IPVS virtual service), ``real_destination`` whom it reached (reply
    tuple source, e.g. the real server); both are None when recording destinations is off.
    Times are UTC nanoseconds since the epoch; ``end_ns`` is None while the connection is open.
    """

    protocol: str  # "tcp", "udp", "sctp", "icmp", "icmpv6" or the protocol number
    family: str  # "inet" / "inet6"
    inside_address: str
    inside_port: int | None  # None for protocols without ports
    translated_address: str
    translated_port: int | None
    start_ns: int
    end_ns: int | None = None
    original_destination_address: str | None = None
    original_destination_port: int | None = None
    real_destination_address: str | None = None
    real_destination_port: int | None = None
    conntrack_id: int = 0
    zone: int = 0
    mark: int = 0
    node: str = ""
    # Exact kernel times (nf_conntrack_timestamp) or when lvsmon saw the event.
    start_exact: bool = False
    # The DESTROY event was lost: the connection ended at or before end_ns, not exactly then.
    end_lost: bool = False
    packets_out: int | None = None  # client -> far side (original direction); None: no acct
    bytes_out: int | None = None
    packets_in: int | None = None  # far side -> client (reply direction)
    bytes_in: int | None = None

    @property
    def inside(self) -> str:
        return join_host_port(self.inside_address, self.inside_port)

    @property
    def translated(self) -> str:
        return join_host_port(self.translated_address, self.translated_port)
