"""The tour's site inside the IPVS guest: two directors with keepalived, real servers, clients.

    with build_site() as site:
        site.lvsmon(site.lb1, "status", "--socket", site.lb1.status_socket)
        site.prometheus.query("lvsmon_vrrp_masters")
        site.nrpe(site.lb1, "check_vrrp")        # (exit code, output) through check_nrpe
        site.weights(site.lb1)                   # {"10.20.0.21:8080": 1, ...} per ipvsadm

Layout (lab namespaces; the caller stays in the guest's root namespace):

    client1 10.10.0.2   --+                          +-- rs1 10.20.0.21:8080  TCP_CHECK
    client2 10.10.0.3   --+-- bridge "front" --+     +-- rs2 10.20.0.22:8080  TCP_CHECK
                          |   VIP 10.10.0.100  |     +-- rs3 10.20.0.23:8080  TCP_CHECK
                 lb1 10.10.0.11          lb2 10.10.0.12 +-- sorry 10.20.0.30:8080
                 lb1 10.20.0.11 --+-- bridge "back" --+ lb2 10.20.0.12
                                  +-- monitor 10.20.0.40: Prometheus, check_nrpe

Each director runs what a real one does: keepalived (VRRP instance VI_WEB, VRID 51, and the
virtual server tcp:10.10.0.100:80 with its health checks and sorry server), IPVS NAT with
source NAT towards the real servers (nftables masquerade to ports 40000-49999, so the real
servers see only the director's address and need no route back), `lvsmon run` (observer,
IPVS, exporter, AgentX behind its own snmpd, [keepalived] config), `lvsmon snat run`,
snmptrapd (snmpd's trap sink) and nrpe with deploy/nrpe-lvsmon.cfg. The real servers are
tests.lab.snat_peers servers: each connection is one access-log line (peer, port, time,
request). client1 sends a steady stream of requests to the VIP (tests/vm/guest/peers.py).
"""

from __future__ import annotations

import grp
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab import Lab, Namespace, Process, nrpe
from tests.lab.keepalived import spawn_keepalived
from tests.lab.prometheus import Prometheus
from tests.lab.snmp_lab import TRAP_PORT, SnmpLab

REPO = Path(__file__).resolve().parents[3]
LVSMON = str(REPO / ".venv" / "bin" / "lvsmon")
PEERS = Path(__file__).with_name("peers.py")
PYTHON_ENV = {"PYTHONPATH": str(REPO)}

VIP, VPORT, RPORT = "10.10.0.100", 80, 8080
SERVICE = f"tcp:{VIP}:{VPORT}"  # as lvsmon drain writes it
VRID = 51
CLIENTS = {"client1": "10.10.0.2", "client2": "10.10.0.3"}
DIRECTORS = {"lb1": ("10.10.0.11", "10.20.0.11", 150), "lb2": ("10.10.0.12", "10.20.0.12", 100)}
REAL_SERVERS = {"rs1": "10.20.0.21", "rs2": "10.20.0.22", "rs3": "10.20.0.23"}
SORRY = ("sorry", "10.20.0.30")
MONITOR = "10.20.0.40"
EXPORTER_PORT = 10573
SNAT_PORTS = (40000, 49999)
TRAFFIC_SECONDS = 3600  # client1's stream; stopped with the lab
TRAFFIC_RATE = 4  # requests per second


def endpoint(address: str, port: int = RPORT) -> str:
    return f"{address}:{port}"


def keepalived_conf(name: str, priority: int) -> str:
    """A typical keepalived.conf: one VRRP instance, one virtual server with a sorry server."""
    real_servers = "".join(f"""
    real_server {address} {RPORT} {{
        weight 1
        TCP_CHECK {{
            connect_port {RPORT}
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}
""" for address in REAL_SERVERS.values())
    return f"""global_defs {{
    router_id {name}
}}

vrrp_instance VI_WEB {{
    state BACKUP
    interface front
    virtual_router_id {VRID}
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {VIP}/24 dev front
    }}
}}

virtual_server {VIP} {VPORT} {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server {SORRY[1]} {RPORT}
{real_servers}}}
"""


SNAT_RULES = f"""
table ip lvsmon_tour {{
    chain postrouting {{
        type nat hook postrouting priority srcnat;
        oifname "back" ip saddr 10.10.0.0/24 meta l4proto tcp \\
            masquerade to :{SNAT_PORTS[0]}-{SNAT_PORTS[1]}
    }}
}}
"""


@dataclass
class Director:
    name: str
    ns: Namespace
    front: str  # its own address on the VRRP segment (the source of its adverts)
    back: str
    priority: int
    home: Path  # its files: configs, status socket, SNAT store, drain state
    snmp: SnmpLab | None = None
    keepalived: Process | None = None
    daemon: Process | None = None
    recorder: Process | None = None

    @property
    def keepalived_conf(self) -> Path:
        """Where tests.lab.keepalived.spawn_keepalived writes the director's file."""
        return self.home.parent / f"keepalived-{self.name}.conf"

    @property
    def status_socket(self) -> str:
        return str(self.home / "run" / "status.sock")

    @property
    def snat_store(self) -> str:
        return str(self.home / "snat.sqlite")

    @property
    def snat_status(self) -> str:
        return str(self.home / "run" / "snat-status.json")  # group nagios: check_snat reads it

    @property
    def state_dir(self) -> str:
        return str(self.home / "state")

    @property
    def exporter(self) -> str:
        return endpoint(self.back, EXPORTER_PORT)


@dataclass
class Site:
    lab: Lab
    directors: dict[str, Director]
    clients: dict[str, Namespace]
    hosts: dict[str, Namespace]  # real servers and the sorry server by name
    servers: dict[str, Process]  # the server process in each of them
    monitor: Namespace
    prometheus: Prometheus | None = None
    traffic: Process | None = None
    nrpe_home: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def lb1(self) -> Director:
        return self.directors["lb1"]

    @property
    def lb2(self) -> Director:
        return self.directors["lb2"]

    # -- operators' commands ------------------------------------------------------

    def lvsmon(self, director: Director, *args: str, timeout: float = 120):
        """`lvsmon ARGS` on a director (its namespace, its drain state directory)."""
        return director.ns.run([LVSMON, *args], check=False, timeout=timeout,
                               env={"LVSMON_STATE_DIR": director.state_dir})

    def nrpe(self, director: Director, command: str) -> tuple[int, str]:
        """check_nrpe from the monitor to the director's nrpe: (exit code, output)."""
        return nrpe.check_nrpe(self.monitor, director.back, command, timeout=60)

    def ipvsadm(self, director: Director, *args: str) -> str:
        return director.ns.run(["ipvsadm", *args]).stdout

    def weights(self, director: Director) -> dict[str, int]:
        """{real server ADDRESS:PORT: weight} of the virtual service, per ipvsadm."""
        found = {}
        for line in self.ipvsadm(director, "-Ln", "-t", f"{VIP}:{VPORT}").splitlines():
            words = line.split()
            if words[:1] == ["->"] and words[1][0].isdigit():
                found[words[1]] = int(words[3])
        return found

    def access_log(self, host: str) -> list[dict]:
        """The TCP lines a real server logged: peer, peer_port, at, request."""
        lines = []
        for text in self.servers[host].log().splitlines():
            if '"peer"' in text and '"tcp"' in text:
                lines.append(json.loads(text))
        return lines

    # -- changes the tour makes --------------------------------------------------

    def start_server(self, host: str) -> Process:
        process = self.hosts[host].spawn(
            [sys.executable, "-m", "tests.lab.snat_peers", "server", str(RPORT)],
            name=f"server-{host}", env=PYTHON_ENV)
        self.lab.wait_for(lambda: '"listening"' in process.log(), 30, what=f"{host} listening")
        self.servers[host] = process
        return process

    def stop_server(self, host: str) -> None:
        self.servers[host].stop()

    def start_keepalived(self, director: Director) -> Process:
        director.keepalived = spawn_keepalived(
            self.lab, director.ns, keepalived_conf(director.name, director.priority),
            name=f"keepalived-{director.name}", checker=True)
        return director.keepalived


def _director(lab: Lab, name: str, front_segment, back_segment) -> Director:
    front, back, priority = DIRECTORS[name]
    ns = lab.namespace(name)
    front_segment.attach(ns, f"{front}/24", ifname="front")
    back_segment.attach(ns, f"{back}/24", ifname="back")
    ns.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.vs.conntrack=1"])
    ns.run(["nft", "-f", "-"], input=SNAT_RULES)
    home = lab.tmpdir / name
    home.mkdir()
    (home / "state").mkdir()
    # The status socket's directory: group nagios may enter (as deploy/lvsmon.service's
    # RuntimeDirectory with nrpe's user in group lvsmon); setgid, so the socket is theirs too.
    run = home / "run"
    run.mkdir()
    os.chown(run, 0, grp.getgrnam(nrpe.USER).gr_gid)
    run.chmod(0o2750)
    return Director(name, ns, front, back, priority, home)


def _daemon_config(director: Director) -> str:
    assert director.snmp is not None
    return (f'[daemon]\nstatus_socket = "{director.status_socket}"\n'
            '[observer]\ninterfaces = ["front"]\n'
            '[ipvs]\ninterval = 1\n'
            f'[exporter]\nlisten = ["{director.exporter}"]\n'
            f'[agentx]\nenabled = true\nmaster = "{director.snmp.socket}"\n'
            f'[keepalived]\nconfig = "{director.keepalived_conf}"\nid = "{director.name}"\n')


def _start_director(site: Site, director: Director) -> None:
    lab, ns = site.lab, director.ns
    director.snmp = SnmpLab(lab, ns, name=f"snmp-{director.name}",
                            extra_conf=(f"trap2sink 127.0.0.1:{TRAP_PORT} public",))
    director.snmp.start(name=f"snmpd-{director.name}")
    director.snmp.start_trap_receiver(name=f"snmptrapd-{director.name}")
    site.start_keepalived(director)
    config = director.home / "lvsmon.toml"
    config.write_text(_daemon_config(director))
    env = {**PYTHON_ENV, "LVSMON_STATE_DIR": director.state_dir}
    director.daemon = ns.spawn([LVSMON, "run", "--config", str(config)],
                               name=f"lvsmon-run-{director.name}", env=env)
    director.recorder = ns.spawn(
        [LVSMON, "snat", "run", "--store", director.snat_store, "--status-file",
         director.snat_status, "--node", director.name],
        name=f"lvsmon-snat-{director.name}", env=env)


def _start_nrpe(site: Site) -> None:
    """nrpe on each director's back address, with the shipped commands (this lab's paths);
    plus the per-service check_ipvs line the shipped file suggests, with the sorry server."""
    home = nrpe.user_dir(site.lab)
    site.nrpe_home = home
    programs = {f"/usr/bin/{name}": str(nrpe.plugin_program(home, name))
                for name in ("check_vrrp", "check_ipvs", "check_snat")}
    for director in site.directors.values():
        paths = {**programs, "/run/lvsmon/status.sock": director.status_socket,
                 "/run/lvsmon/snat-status.json": director.snat_status}
        commands = nrpe.shipped_commands(paths)
        commands["check_ipvs_web"] = (
            f"{programs['/usr/bin/check_ipvs']} --source procfs --service {SERVICE} "
            f"-w 3: -c 2: --sorry {endpoint(SORRY[1])}")
        nrpe_home = nrpe.user_dir(site.lab, f"nrpe-{director.name}")
        nrpe.start_nrpe(site.lab, director.ns, nrpe_home, commands, director.back,
                        allowed_hosts=MONITOR)


def _wait_ready(site: Site) -> None:
    lab = site.lab
    lab.wait_for(lambda: site.lb1.ns.has_address(VIP), 60, what="lb1 master (the VIP on lb1)")
    for director in site.directors.values():
        lab.wait_for(lambda d=director: len(site.weights(d)) == len(REAL_SERVERS), 60,
                     what=f"keepalived's virtual server with 3 real servers on {director.name}")
        lab.wait_for(lambda d=director: Path(d.snat_status).exists(), 60,
                     what=f"lvsmon snat run on {director.name}")
        lab.wait_for(lambda d=director: Path(d.status_socket).exists(), 60,
                     what=f"lvsmon run's status socket on {director.name}")
    site.prometheus.wait_for(f'count(lvsmon_vrrp_masters{{vrid="{VRID}"}} == 1) == 2', 120,
                             what="both directors' exporters scraped, one master seen")


@contextmanager
def build_site() -> Iterator[Site]:
    with Lab() as lab:
        lab.tmpdir.chmod(0o711)
        front = lab.segment("front")
        back = lab.segment("back")
        clients = {}
        for name, address in CLIENTS.items():
            clients[name] = lab.namespace(name)
            front.attach(clients[name], f"{address}/24", ifname="eth0")
        hosts = {}
        for name, address in [*REAL_SERVERS.items(), SORRY]:
            hosts[name] = lab.namespace(name)
            back.attach(hosts[name], f"{address}/24", ifname="eth0")
        monitor = lab.namespace("monitor")
        back.attach(monitor, f"{MONITOR}/24", ifname="eth0")
        directors = {name: _director(lab, name, front, back) for name in DIRECTORS}
        lab.defer(_clear_ipvs, list(directors.values()))
        site = Site(lab, directors, clients, hosts, {}, monitor)
        for host in hosts:
            site.start_server(host)
        for director in directors.values():
            _start_director(site, director)
        site.prometheus = Prometheus(
            lab, monitor, {"lvsmon": [d.exporter for d in directors.values()]},
            rules=[REPO / "deploy" / "prometheus-lvsmon.rules.yml"], scrape_seconds=2)
        _start_nrpe(site)
        _wait_ready(site)
        site.traffic = clients["client1"].spawn(
            [sys.executable, "-I", "-S", str(PEERS), "stream", VIP, str(VPORT),
             str(TRAFFIC_SECONDS), str(TRAFFIC_RATE)], name="traffic-client1")
        yield site


def _clear_ipvs(directors: list[Director]) -> None:
    for director in directors:
        director.ns.run(["ipvsadm", "-C"], check=False)
