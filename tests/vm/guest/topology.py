"""A small load-balanced network inside the guest, with IPVS configured by ipvsadm.

    from tests.vm.guest.topology import ipvs_topology

    with ipvs_topology() as topo:            # builds everything, sends first traffic
        topo.services["nat"].text            # "tcp:10.100.0.1:80" (how lvsmon names it)
        topo.send_tcp("nat", 30)             # {"rs1": 15, "rs2": 10, "rs3": 5}
        topo.ipvsadm("-Ln", "--stats", "--exact")
        held = topo.hold_connection("drain") # one open connection; held.server is "rs1" or "rs3"
        held.close()

Layout (all inside lab namespaces; the test process stays in the guest's root namespace):

    client 10.10.1.2 fd00:1::2 --veth-- director 10.10.1.1 fd00:1::1
                                        director 10.20.0.1 fd00:2::1 --bridge "rsnet"-- rs1 .11
                                        VIPs on lo: 10.100.0.1-8, fd00:100::1          -- rs2 .12
                                                                                       -- rs3 .13
Real servers answer TCP 8080 and UDP 5353 (tests/vm/guest/peers.py) and route back through
the director, as NAT needs. ipvsadm is the independent tool that sets up and reads the
table; the product under test only ever reads it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab import Lab, Namespace, Process
from tests.lab.errors import WaitTimeout

PEERS = Path(__file__).with_name("peers.py")
TCP_PORT = 8080
UDP_PORT = 5353
FWMARK = 7

CLIENT_V4, CLIENT_V6 = "10.10.1.2", "fd00:1::2"
DIRECTOR_CLIENT_V4, DIRECTOR_CLIENT_V6 = "10.10.1.1", "fd00:1::1"
DIRECTOR_RS_V4, DIRECTOR_RS_V6 = "10.20.0.1", "fd00:2::1"
REAL_SERVERS = {"rs1": ("10.20.0.11", "fd00:2::11"),
                "rs2": ("10.20.0.12", "fd00:2::12"),
                "rs3": ("10.20.0.13", "fd00:2::13")}
FORWARD_FLAGS = {"masq": "-m", "route": "-g", "tunnel": "-i"}  # ipvsadm's words for them
# Kernels before 6.2 fold the per-CPU IPVS counters into what they report only when the
# rate estimator runs, every 2 s (later on a busy guest): see Topology.settle().
ESTIMATOR_SECONDS = 2


@dataclass(frozen=True)
class RealServerSpec:
    host: str  # the lab namespace answering, e.g. "rs1"
    address: str
    port: int
    forward: str  # "masq", "route" or "tunnel", as ipvsadm -Ln prints them (Masq, Route, Tunnel)
    weight: int
    upper_threshold: int = 0
    lower_threshold: int = 0

    @property
    def endpoint(self) -> str:
        """ADDR:PORT as ipvsadm writes it (IPv6 in brackets)."""
        return _endpoint(self.address, self.port)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # key in Topology.services
    protocol: str | None  # "tcp", "udp", "sctp"; None for a firewall-mark service
    address: str | None
    port: int | None
    fwmark: int | None
    scheduler: str
    real_servers: tuple[RealServerSpec, ...]
    persistence_seconds: int | None = None
    netmask: str | None = None
    family: int = 4  # for a firewall-mark service, the family of its real servers

    @property
    def text(self) -> str:
        """The service as lvsmon's command line writes it: tcp:10.0.0.1:80, fwm:7."""
        if self.fwmark is not None:
            return f"fwm:{self.fwmark}"
        return f"{self.protocol}:{self.endpoint}"

    @property
    def endpoint(self) -> str:
        assert self.address is not None and self.port is not None
        return _endpoint(self.address, self.port)

    def ipvsadm_id(self) -> list[str]:
        """ipvsadm's arguments naming this service, e.g. ["-t", "10.100.0.1:80"]."""
        if self.fwmark is not None:
            return ["-f", str(self.fwmark)] + (["-6"] if self.family == 6 else [])
        flag = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}[self.protocol or ""]
        return [flag, self.endpoint]

    def ipvsadm_rules(self) -> list[list[str]]:
        """The ipvsadm commands (without the program name) that create this service."""
        add = ["-A", *self.ipvsadm_id(), "-s", self.scheduler]
        if self.persistence_seconds is not None:
            add += ["-p", str(self.persistence_seconds)]
        if self.netmask is not None:
            add += ["-M", self.netmask]
        rules = [add]
        for rs in self.real_servers:
            rule = ["-a", *self.ipvsadm_id(), "-r", rs.endpoint, FORWARD_FLAGS[rs.forward],
                    "-w", str(rs.weight)]
            if rs.upper_threshold:
                rule += ["-x", str(rs.upper_threshold)]
            if rs.lower_threshold:
                rule += ["-y", str(rs.lower_threshold)]
            rules.append(rule)
        return rules


@dataclass(frozen=True)
class Stats:
    """One line of `ipvsadm -Ln --stats --exact`."""

    connections: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _rs(host: str, forward: str = "masq", weight: int = 1, port: int = TCP_PORT, v6: bool = False,
        upper: int = 0, lower: int = 0) -> RealServerSpec:
    address = REAL_SERVERS[host][1 if v6 else 0]
    return RealServerSpec(host, address, port, forward, weight, upper, lower)


def default_services() -> dict[str, ServiceSpec]:
    """The table: every forwarding method, several schedulers, fwmark, IPv6, UDP, SCTP."""
    services = [
        # The one with traffic: wrr 3:2:1 splits 30 connections exactly 15/10/5. rs3 takes
        # no new connections once ActiveConn + InActConn reach 100 (its upper threshold).
        ServiceSpec("nat", "tcp", "10.100.0.1", 80, None, "wrr",
                    (_rs("rs1", weight=3), _rs("rs2", weight=2),
                     _rs("rs3", weight=1, upper=100, lower=10))),
        ServiceSpec("dr", "tcp", "10.100.0.2", 80, None, "wlc",
                    (_rs("rs1", "route", port=80), _rs("rs2", "route", weight=2, port=80))),
        ServiceSpec("tunnel", "tcp", "10.100.0.3", 80, None, "sh",
                    (_rs("rs2", "tunnel", port=80), _rs("rs3", "tunnel", weight=4, port=80))),
        ServiceSpec("persistent", "tcp", "10.100.0.4", 8443, None, "rr",
                    (_rs("rs1"), _rs("rs2")), persistence_seconds=300, netmask="255.255.255.0"),
        ServiceSpec("udp", "udp", "10.100.0.5", 53, None, "lc",
                    (_rs("rs1", port=UDP_PORT), _rs("rs2", port=UDP_PORT))),
        ServiceSpec("sctp", "sctp", "10.100.0.6", 3868, None, "rr",
                    (_rs("rs1", port=3868), _rs("rs3", port=3868))),
        ServiceSpec("fwm", None, None, None, FWMARK, "rr",
                    (_rs("rs2"), _rs("rs3", weight=2))),
        ServiceSpec("nat6", "tcp", "fd00:100::1", 80, None, "wlc",
                    (_rs("rs1", v6=True), _rs("rs2", weight=2, v6=True)), family=6),
        # Kept apart for drain tests, so draining does not disturb the other services.
        ServiceSpec("drain", "tcp", "10.100.0.8", 80, None, "rr",
                    (_rs("rs1", weight=5), _rs("rs3", weight=5))),
    ]
    return {service.name: service for service in services}


FWM_VIP = "10.100.0.7"  # packets to FWM_VIP:80 get mark FWMARK in the director
VIPS = ["10.100.0.1/32", "10.100.0.2/32", "10.100.0.3/32", "10.100.0.4/32", "10.100.0.5/32",
        "10.100.0.6/32", f"{FWM_VIP}/32", "10.100.0.8/32", "fd00:100::1/128"]
FWM_RULES = f"""
table ip lvsmon_fwm {{
    chain prerouting {{
        type filter hook prerouting priority mangle; policy accept;
        ip daddr {FWM_VIP} tcp dport 80 meta mark set {FWMARK}
    }}
}}
"""


class HeldConnection:
    """A TCP connection from the client kept open (ActiveConn 1) until close()."""

    def __init__(self, process: Process, server: str):
        self.process = process
        self.server = server  # the real server's host name, e.g. "rs1"

    def close(self) -> None:
        self.process.stop()


@dataclass
class Topology:
    lab: Lab
    director: Namespace
    client: Namespace
    hosts: dict[str, Namespace]  # real server namespaces by short name
    servers: dict[str, Process]  # the peers.py server in each of them
    services: dict[str, ServiceSpec]
    streams: list[Process] = field(default_factory=list)  # start_traffic's, until settle()

    def ipvsadm(self, *args: str) -> str:
        """Run ipvsadm in the director; return its stdout."""
        return self.director.run(["ipvsadm", *args]).stdout

    def stats(self, service: str) -> dict[str, Stats]:
        """Counters of one service from `ipvsadm -Ln --stats --exact`: key "service" for
        the service itself, the real server's ADDR:PORT for each real server."""
        spec = self.services[service]
        out = self.ipvsadm("-Ln", "--stats", "--exact", *spec.ipvsadm_id())
        return parse_ipvsadm_stats(out)

    def settle(self, timeout: float = 60) -> None:
        """Wait until the kernel reports every packet sent so far.

        This kernel adds its per-CPU counters into what it reports only when its rate
        estimator runs, and a run shows in the rates: they move towards the traffic of the
        period before. So, once the traffic has ended, wait for the table's rates to change:
        that run came after the traffic. Rates that are all zero and stay so for three
        periods mean there was no traffic left to count (it would have made a rate)."""
        for stream in self.streams:
            self.lab.wait_for(lambda s=stream: not s.alive, timeout, what=f"{stream.name} ended")
        self.streams.clear()
        first = self.ipvsadm("-Ln", "--rate", "--exact")

        def estimated_again() -> bool:
            return self.ipvsadm("-Ln", "--rate", "--exact") != first
        what = "the IPVS rate estimator's next run (the rates changed)"
        if any(ipvsadm_rates(first)):
            self.lab.wait_for(estimated_again, timeout, what=what, interval=0.25)
        else:
            with suppress(WaitTimeout):
                self.lab.wait_for(estimated_again, 3 * ESTIMATOR_SECONDS + 0.5, what=what,
                                  interval=0.25)

    def settled_stats(self, service: str) -> dict[str, Stats]:
        self.settle()
        return self.stats(service)

    def _peer(self, *args: object) -> str:
        argv = [sys.executable, "-I", "-S", str(PEERS), *[str(a) for a in args]]
        return self.client.run(argv, timeout=120).stdout

    def _target(self, service: str) -> tuple[str, int]:
        spec = self.services[service]
        if spec.fwmark is not None:
            return FWM_VIP, 80
        assert spec.address is not None and spec.port is not None
        return spec.address, spec.port

    def send_tcp(self, service: str, count: int) -> dict[str, int]:
        """COUNT TCP requests from the client to the service; answers per real server host."""
        return json.loads(self._peer("connect", *self._target(service), count))

    def send_udp(self, service: str, count: int) -> dict[str, int]:
        return json.loads(self._peer("udp", *self._target(service), count))

    def start_traffic(self, service: str, seconds: float, per_second: float = 20) -> Process:
        """TCP requests to the service in the background for SECONDS, PER_SECOND at most
        (the process then logs {"host": answers} JSON); for watching rates while it flows."""
        argv = [sys.executable, "-I", "-S", str(PEERS), "stream", *self._target(service),
                str(seconds), str(per_second)]
        stream = self.client.spawn(argv, name=f"traffic-{service}")
        self.streams.append(stream)
        return stream

    def hold_connection(self, service: str, timeout: float = 30) -> HeldConnection:
        """Open one TCP connection to the service and keep it open until .close()."""
        host, port = self._target(service)
        argv = [sys.executable, "-I", "-S", str(PEERS), "hold", host, str(port)]
        process = self.client.spawn(argv, name=f"hold-{service}")
        line = self.lab.wait_for(lambda: _held_by(process), timeout, what="held connection")
        return HeldConnection(process, line)


def _held_by(process: Process) -> str | None:
    for line in process.log().splitlines():
        if line.startswith("held by "):
            return line.removeprefix("held by ").strip()
    process.check_running()
    return None


def _entries(out: str) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """Each service and real server line of `ipvsadm -Ln --stats|--rate --exact`: its
    fields, and its five numbers (counters or rates) in the order printed."""
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 6 and all(f.isdigit() for f in fields[-5:]):  # not a header
            yield fields, tuple(int(f) for f in fields[-5:])


def ipvsadm_rates(out: str) -> list[int]:
    """Every rate of `ipvsadm -Ln --rate --exact` (five per service and real server)."""
    return [rate for _, rates in _entries(out) for rate in rates]


def parse_ipvsadm_stats(out: str) -> dict[str, Stats]:
    """Parse `ipvsadm -Ln --stats --exact` for ONE service (the caller names it)."""
    return {fields[1] if fields[0] == "->" else "service": Stats(*numbers)
            for fields, numbers in _entries(out)}


def _build_network(lab: Lab) -> tuple[Namespace, Namespace, dict[str, Namespace]]:
    director = lab.namespace("director")
    client = lab.namespace("client")
    lab.veth(client, director, [f"{CLIENT_V4}/24", f"{CLIENT_V6}/64"],
             [f"{DIRECTOR_CLIENT_V4}/24", f"{DIRECTOR_CLIENT_V6}/64"],
             a_ifname="eth0", b_ifname="to-client")
    client.ip("route", "add", "default", "via", DIRECTOR_CLIENT_V4)
    client.ip("-6", "route", "add", "default", "via", DIRECTOR_CLIENT_V6)
    rsnet = lab.segment("rsnet")
    rsnet.attach(director, [f"{DIRECTOR_RS_V4}/24", f"{DIRECTOR_RS_V6}/64"], ifname="rsnet")
    hosts = {}
    for name, (v4, v6) in REAL_SERVERS.items():
        host = lab.namespace(name)
        rsnet.attach(host, [f"{v4}/24", f"{v6}/64"], ifname="eth0")
        # NAT: replies must go back through the director.
        host.ip("route", "add", "default", "via", DIRECTOR_RS_V4)
        host.ip("-6", "route", "add", "default", "via", DIRECTOR_RS_V6)
        hosts[name] = host
    director.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
    # One `ip` for all VIPs: every command costs ~0.1 s under TCG.
    director.run(["ip", "-batch", "-"], input="".join(
        f"addr add {vip} dev lo{' nodad' if ':' in vip else ''}\n" for vip in VIPS))
    return director, client, hosts


@contextmanager
def ipvs_topology(traffic: bool = True) -> Iterator[Topology]:
    """Build the network, start the real servers, configure IPVS; with traffic=True also
    send 30 connections to "nat" (and a little to nat6, fwm, udp, persistent)."""
    with Lab() as lab:
        director, client, hosts = _build_network(lab)
        servers = {
            name: host.spawn([sys.executable, "-I", "-S", str(PEERS), "serve", name,
                              str(TCP_PORT), str(UDP_PORT)], name=f"server-{name}")
            for name, host in hosts.items()
        }
        services = default_services()
        # Addresses are in place first: IPVS refuses a real server it has no route to.
        rules = "".join(" ".join(rule) + "\n" for spec in services.values()
                        for rule in spec.ipvsadm_rules())
        director.run(["ipvsadm", "-R"], input=rules)
        director.run(["nft", "-f", "-"], input=FWM_RULES)
        lab.defer(_clear_ipvs, director)
        topo = Topology(lab, director, client, hosts, servers, services)
        lab.wait_for(lambda: all(" ready " in s.log() for s in servers.values()), 60,
                     what="real servers listening")
        if traffic:
            topo.send_tcp("nat", 30)
            topo.send_tcp("nat6", 3)
            topo.send_tcp("fwm", 3)
            topo.send_tcp("persistent", 2)
            topo.send_udp("udp", 2)
        yield topo


def _clear_ipvs(director: Namespace) -> None:
    director.run(["ipvsadm", "-C"])
