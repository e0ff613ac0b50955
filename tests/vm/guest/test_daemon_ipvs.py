"""`lvsmon run` in the director's namespace of the IPVS guest: its IPVS snapshot is the table.

The daemon runs as a real process (observer off, IPVS read every second) and is
asked through `lvsmon status --json`; the topology's specs (what ipvsadm -R loaded)
are what it must list, and a service added with ipvsadm shows up at the next read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lvsmon.model import IpvsTable
from lvsmon.model.codec import from_json
from lvsmon.model.daemon import DaemonState

REPO = Path(__file__).resolve().parents[3]


def status(topo, sock: str) -> DaemonState:
    """`lvsmon status --json`, read back through the model's codec."""
    done = subprocess.run(
        [sys.executable, "-m", "lvsmon", "status", "--json", "--socket", sock],
        capture_output=True, text=True, timeout=30, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    return from_json(DaemonState, json.loads(done.stdout))


def service_ids(table: IpvsTable) -> set[tuple]:
    return {(s.protocol, s.address, s.port, s.fwmark) for s in table.services}


def spec_id(spec) -> tuple:
    if spec.fwmark is not None:
        return ("fwm", None, None, spec.fwmark)
    return (spec.protocol, spec.address, spec.port, None)


def test_daemon_lists_the_topology_services(ipvs_topology):
    topo = ipvs_topology
    sock = str(topo.lab.tmpdir / "run" / "status.sock")
    config = topo.lab.tmpdir / "lvsmon.toml"
    config.write_text(
        f'[daemon]\nstatus_socket = "{sock}"\n[observer]\nenabled = false\n[ipvs]\ninterval = 1\n'
    )
    daemon = topo.director.spawn(
        [sys.executable, "-m", "lvsmon", "run", "--config", config],
        name="lvsmon-run", env={"PYTHONPATH": REPO},
    )  # fmt: skip

    def available():
        ipvs = status(topo, sock).ipvs
        return ipvs if ipvs.available else None

    # Generous: without KVM, `lvsmon run` and each `lvsmon status` start slowly.
    ipvs = topo.lab.wait_for(available, 120, what="the daemon's first IPVS read")
    table = ipvs.snapshot
    assert table.source == "netlink"
    assert service_ids(table) == {spec_id(spec) for spec in topo.services.values()}
    by_id = {spec_id(spec): spec for spec in topo.services.values()}
    for service in table.services:
        spec = by_id[(service.protocol, service.address, service.port, service.fwmark)]
        assert service.scheduler == spec.scheduler
        assert {(rs.address, rs.port, rs.weight) for rs in service.real_servers} == {
            (rs.address, rs.port, rs.weight) for rs in spec.real_servers
        }, spec.name
    nat = next(s for s in table.services if s.address == "10.100.0.1")
    assert nat.stats.connections >= 30  # the topology's traffic

    # A service added now appears at the next read.
    topo.director.run(["ipvsadm", "-A", "-t", "10.100.0.99:8080", "-s", "rr"])
    added = ("tcp", "10.100.0.99", 8080, None)
    started = time.monotonic()
    topo.lab.wait_for(lambda: added in service_ids(status(topo, sock).ipvs.snapshot), 60,
                      what="the new service in the daemon's table")  # fmt: skip
    print(f"new service seen after {time.monotonic() - started:.2f} s")
    topo.director.run(["ipvsadm", "-D", "-t", "10.100.0.99:8080"])

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(20) == 0, daemon.describe()
