"""Source-NAT connection records (lvsmon.snat)."""

from __future__ import annotations

from dataclasses import dataclass

from lvsmon.model.addresses import join_host_port


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
