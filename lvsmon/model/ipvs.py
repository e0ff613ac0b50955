"""The IPVS table as lvsmon.ipvs reads it: services, real servers, counters and rates.

Words follow ipvsadm; ``None`` always means "this source cannot know", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lvsmon.model.addresses import family_of, join_host_port

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

    def values(self) -> tuple[int | None, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)


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

    _json_extras = {"endpoint": "endpoint"}

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

    # JSON: the key's fields in the service's own object, and its spelling as "service".
    _json_inline = ("key",)
    _json_extras = {"service": "name"}

    @property
    def name(self) -> str:
        """How lvsmon drain and the exporter's labels write it: tcp:10.0.0.1:80, fwm:7."""
        return str(self.key)

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
