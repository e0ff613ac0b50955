"""The SNAT lab: clients -> router (nftables masquerade) -> server, plus helpers to run
`lvsmon snat run` and the `conntrack -E` witness inside the router namespace.

    clients (10.71.1.2, .3) --- inside segment --- router 10.71.1.1 | 10.71.2.1 --- server 10.71.2.2

Masquerade maps source ports into 40000-49999 so that translation changes ports too.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .lab import Lab
from .netns import Namespace
from .process import Process

REPO = Path(__file__).resolve().parents[2]
ROUTER_INSIDE, ROUTER_OUTSIDE = "10.71.1.1", "10.71.2.1"
SERVER = "10.71.2.2"
CLIENTS = ("10.71.1.2", "10.71.1.3")
ROUTER_INSIDE6, ROUTER_OUTSIDE6 = "fd00:71:1::1", "fd00:71:2::1"
SERVER6 = "fd00:71:2::2"
CLIENTS6 = ("fd00:71:1::2", "fd00:71:1::3")
PORT = 7000
PORT6 = 7006
NAT_PORTS = (40000, 49999)
PYTHON_ENV = {"PYTHONPATH": str(REPO)}

NFT_RULES = f"""
table ip lvsmt_nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat;
        oifname "to-server" meta l4proto {{ tcp, udp }} masquerade to :{NAT_PORTS[0]}-{NAT_PORTS[1]}
        oifname "to-server" masquerade
    }}
}}
table ip6 lvsmt_nat6 {{
    chain postrouting {{
        type nat hook postrouting priority srcnat;
        oifname "to-server" meta l4proto {{ tcp, udp }} masquerade to :{NAT_PORTS[0]}-{NAT_PORTS[1]}
    }}
}}
"""


@dataclass
class SnatLab:
    lab: Lab
    router: Namespace
    server: Namespace
    clients: list[Namespace]

    def python(self, ns: Namespace, *args: str, name: str | None = None) -> Process:
        return ns.spawn([sys.executable, "-m", "tests.lab.snat_peers", *args], name=name,
                        env=PYTHON_ENV)

    def run_python(self, ns: Namespace, *args: str, timeout: float = 60) -> list[dict]:
        done = ns.run([sys.executable, "-m", "tests.lab.snat_peers", *args], env=PYTHON_ENV,
                      timeout=timeout)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def lvsmon(self, *args: str, name: str = "lvsmon-snat") -> Process:
        return self.router.spawn([sys.executable, "-m", "lvsmon", "snat", "run", *args],
                                 name=name, env=PYTHON_ENV)

    def witness(self, name: str = "conntrack-E", buffer_bytes: int = 64 << 20) -> Process:
        """`conntrack -E` in the router: the independent record of the same events.

        Its netlink buffer is the same size as lvsmon's default, so both face the same load
        with the same room."""
        # stdbuf: one line at a time into the log, not 4 KiB blocks
        return self.router.spawn(["stdbuf", "-oL", "conntrack", "-E", "-e", "NEW,DESTROY", "-o",
                                  "timestamp,extended,id", "-b", str(buffer_bytes)],
                                 name=name)


def build(lab: Lab, clients: int = 2, server_up: bool = True) -> SnatLab:
    router = lab.namespace("router")
    server = lab.namespace("server")
    lab.veth(router, server, [f"{ROUTER_OUTSIDE}/24", f"{ROUTER_OUTSIDE6}/64"],
             [f"{SERVER}/24", f"{SERVER6}/64"], a_ifname="to-server", b_ifname="eth0")
    seg = lab.segment("inside")
    seg.attach(router, [f"{ROUTER_INSIDE}/24", f"{ROUTER_INSIDE6}/64"], ifname="inside")
    members = []
    for index in range(clients):
        ns = lab.namespace(f"client{index}")
        seg.attach(ns, [f"{CLIENTS[index]}/24", f"{CLIENTS6[index]}/64"], ifname="eth0")
        ns.run(["ip", "route", "add", "default", "via", ROUTER_INSIDE])
        ns.run(["ip", "-6", "route", "add", "default", "via", ROUTER_INSIDE6])
        members.append(ns)
    server.run(["ip", "route", "add", "default", "via", ROUTER_OUTSIDE])
    router.sysctl("net.ipv4.ip_forward", 1)
    router.sysctl("net.ipv6.conf.all.forwarding", 1)
    router.run(["nft", "-f", "-"], input=NFT_RULES)
    snat = SnatLab(lab, router, server, members)
    if server_up:
        srv = snat.python(server, "server", str(PORT), name="snat-server")
        srv6 = snat.python(server, "server", str(PORT6), "::", name="snat-server6")
        lab.wait_for(lambda: '"listening"' in srv.log() and '"listening"' in srv6.log(), 10,
                     what="SNAT lab servers listening")
    return snat


WITNESS_LINE = re.compile(
    r"^\[(?P<ts>[\d.]+)\]\s+\[(?P<kind>NEW|DESTROY)\]\s+ipv4\s+\d+\s+(?P<proto>\w+)\s+\d+\s+"
    r"(?:\d+\s+)?(?:[A-Z_]+\s+)?"
    r"src=(?P<src>\S+) dst=(?P<dst>\S+) sport=(?P<sport>\d+) dport=(?P<dport>\d+)"
    r"(?: packets=\d+ bytes=\d+)?(?: \[UNREPLIED\])? "
    r"src=(?P<rsrc>\S+) dst=(?P<rdst>\S+) sport=(?P<rsport>\d+) dport=(?P<rdport>\d+)"
    r".*?id=(?P<id>\d+)")


@dataclass(frozen=True)
class WitnessEvent:
    at: float
    kind: str
    protocol: str
    inside: tuple[str, int]
    destination: tuple[str, int]
    real: tuple[str, int]
    translated: tuple[str, int]
    conntrack_id: int


def expire_ended_flows(router) -> None:
    """Delete the entries of flows that ended, as their timeouts would (DESTROY events now):
    the kernel's garbage collector may take up to a minute to reap expired entries."""
    for argv in (["-p", "udp"], ["-p", "tcp", "--state", "TIME_WAIT"],
                 ["-p", "tcp", "--state", "CLOSE"], ["-p", "tcp", "--state", "FIN_WAIT"],
                 ["-p", "tcp", "--state", "LAST_ACK"], ["-p", "tcp", "--state", "CLOSE_WAIT"]):
        router.run(["conntrack", "-D", *argv], check=False)


def parse_witness(text: str) -> list[WitnessEvent]:
    """TCP and UDP events from `conntrack -E -o timestamp,extended,id` output."""
    events = []
    for line in text.splitlines():
        match = WITNESS_LINE.match(line.strip())
        if not match:
            continue
        g = match.groupdict()
        events.append(WitnessEvent(float(g["ts"]), g["kind"], g["proto"],
                                   (g["src"], int(g["sport"])), (g["dst"], int(g["dport"])),
                                   (g["rsrc"], int(g["rsport"])), (g["rdst"], int(g["rdport"])),
                                   int(g["id"])))
    return events
