"""A director whose virtual server keepalived manages, and `lvsmon run` guarding its drains.

Shared by tests/vm/guest/test_drain_hold.py and benchmarks/drain_hold.py (both in the guest).

    director = KeepalivedDirector(topo, topo.director, "main")   # writes keepalived.conf
    director.start_keepalived(); director.start_daemon()
    director.lvsmon("drain", SERVICE, endpoint("rs1"), "--timeout", "60")
    director.guard()          # the daemon's DrainGuardSnapshot (lvsmon status --json)
    director.weights()        # {ADDR:PORT: weight} of SERVICE, per ipvsadm
    restart_real_server(topo, "rs1")

keepalived runs only its checker (-C) with TCP_CHECK on each real server of
tcp:10.100.0.8:80 (the topology's "drain" VIP, whose ipvsadm service is removed first):
it adds and removes real servers and writes their weights itself, as in production.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from lvsmon.model.codec import from_json
from lvsmon.model.daemon import DaemonState
from lvsmon.model.drain import DrainGuardSnapshot
from tests.lab.keepalived_witness import start_keepalived
from tests.vm.guest.topology import PEERS, REAL_SERVERS, TCP_PORT, UDP_PORT

REPO = Path(__file__).resolve().parents[3]
VIP, VPORT = "10.100.0.8", 80
SERVICE = f"tcp:{VIP}:{VPORT}"
# Weights keepalived.conf gives (not the topology's 5 and 5: undrain must take these).
CONFIGURED = {"rs1": 4, "rs3": 6}
CONFIG_ID = "lb"
ENV = {"PYTHONPATH": str(REPO)}


def endpoint(host: str) -> str:
    return f"{REAL_SERVERS[host][0]}:{TCP_PORT}"


def keepalived_conf(weights: dict[str, int]) -> str:
    blocks = "".join(f"""
    real_server {REAL_SERVERS[host][0]} {TCP_PORT} {{
        weight {weight}
        TCP_CHECK {{
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}""" for host, weight in weights.items())
    return f"""global_defs {{
    router_id lvsmon_drain
}}
virtual_server {VIP} {VPORT} {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP{blocks}
}}
"""


class KeepalivedDirector:
    """keepalived's checker and `lvsmon run` in one director namespace, files in `work`."""

    def __init__(self, topo, namespace, name: str):
        self.topo = topo
        self.lab = topo.lab
        self.namespace = namespace
        self.work = topo.lab.tmpdir / f"director-{name}"
        self.work.mkdir()
        self.state_dir = self.work / "drains"
        self.socket = str(self.work / "run" / "status.sock")
        self.conf = self.work / "keepalived.conf"
        self.toml = self.work / "lvsmon.toml"
        self.keepalived = None
        self.daemon = None
        self.write_conf(CONFIGURED)
        self.toml.write_text(
            f'[daemon]\nstatus_socket = "{self.socket}"\nstate_dir = "{self.state_dir}"\n'
            f'[observer]\nenabled = false\n[ipvs]\ninterval = 1\n'
            f'[keepalived]\nconfig = "{self.conf}"\nid = "{CONFIG_ID}"\n'
        )

    def write_conf(self, weights: dict[str, int]) -> None:
        self.conf.write_text(keepalived_conf(weights))

    # -- keepalived -----------------------------------------------------------------------

    def start_keepalived(self) -> None:
        self.keepalived = start_keepalived(self.lab, self.namespace, self.conf,
                                           config_id=CONFIG_ID, part="check", timeout=120)
        self.lab.defer(self.keepalived.stop)
        self.lab.wait_for(lambda: set(self.weights()) == {endpoint(h) for h in CONFIGURED},
                          60, what="keepalived's virtual server in IPVS")

    def stop_keepalived(self) -> None:
        self.keepalived.stop(timeout=30)
        self.lab.wait_for(lambda: not self.weights(), 60,
                          what="keepalived's virtual server gone from IPVS")

    def reload_keepalived(self) -> None:
        """SIGHUP, as `systemctl reload keepalived` sends it."""
        self.keepalived.send_signal(signal.SIGHUP)

    # -- lvsmon ---------------------------------------------------------------------------

    def start_daemon(self) -> None:
        self.daemon = self.namespace.spawn(
            [sys.executable, "-m", "lvsmon", "run", "--config", str(self.toml)],
            name=f"lvsmon-run-{self.work.name}", env=ENV)
        self.lab.defer(self.daemon.stop)
        self.lab.wait_for(lambda: self._guard_or_none() is not None, 120,
                          what="the daemon's drain guard")

    def state(self) -> DaemonState:
        done = subprocess.run(
            [sys.executable, "-m", "lvsmon", "status", "--json", "--socket", self.socket],
            capture_output=True, text=True, timeout=60, check=True,
            env={**os.environ, **ENV})  # fmt: skip
        return from_json(DaemonState, json.loads(done.stdout))

    def _guard_or_none(self) -> DrainGuardSnapshot | None:
        self.daemon.check_running()
        try:
            return self.state().drains.snapshot
        except subprocess.CalledProcessError:
            return None  # the socket is not up yet

    def guard(self) -> DrainGuardSnapshot:
        snapshot = self.state().drains.snapshot
        assert snapshot is not None
        return snapshot

    def reasserted(self, host: str) -> int:
        held = self.guard().held(SERVICE, endpoint(host))
        return 0 if held is None else held.reasserted

    def lvsmon_argv(self, *args: str) -> list[str]:
        return self.namespace.exec_argv(
            [sys.executable, "-m", "lvsmon", *args, "--config", str(self.toml)])

    def lvsmon(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.lvsmon_argv(*args), capture_output=True, text=True,
                              timeout=timeout, check=False, env={**os.environ, **ENV})

    def weights(self) -> dict[str, int]:
        """{ADDR:PORT: weight} of SERVICE per ipvsadm; {} when the service is not there."""
        done = self.namespace.run(["ipvsadm", "-Ln", "-t", f"{VIP}:{VPORT}"], check=False)
        found = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            if parts[:1] == ["->"] and parts[1][0].isdigit():
                found[parts[1]] = int(parts[3])
        return found


def stop_real_server(topo, host: str) -> None:
    topo.servers[host].stop()


def start_real_server(topo, host: str) -> None:
    server = topo.hosts[host].spawn(
        [sys.executable, "-I", "-S", str(PEERS), "serve", host, str(TCP_PORT), str(UDP_PORT)],
        name=f"server-{host}-again")
    topo.servers[host] = server
    topo.lab.wait_for(lambda: " ready " in server.log(), 60, what=f"{host} listening again")


def prepare(topo) -> None:
    """The topology's "drain" service out of IPVS: keepalived makes it."""
    topo.director.run(["ipvsadm", "-D", "-t", f"{VIP}:{VPORT}"])
