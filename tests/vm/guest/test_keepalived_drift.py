"""keepalived's checker manages a virtual server on the guest's IPVS kernel; lvsmon reports
how the table differs from keepalived.conf.

The topology of tests/vm/guest/topology.py with its ipvsadm table cleared: keepalived
(checker only) owns tcp:10.100.0.9:80, round robin over rs1:8080 (weight 3) and rs2:8080
(weight 2), each with a TCP_CHECK, and rs3:8080 as its sorry server. `lvsmon run` in the
director reads the same keepalived.conf ([keepalived] config) and the table every second.
Each step is read three ways, which must agree: the daemon's state (its status socket),
`lvsmon keepalived diff --json`, and check_ipvs (without --sorry).

1. As configured: no finding; check_ipvs OK.
2. rs1's server stopped: keepalived removes rs1; real_server_absent.
3. rs2's stopped too: keepalived adds the sorry server; sorry_server_serving naming both
   down, the client is answered by rs3, check_ipvs CRITICAL from the file's sorry server
   (and from lvsmon.toml's [keepalived] config), the exporter's sorry gauge is 1.
4. Both started again: as configured.
5. rs1's weight set to 7 with ipvsadm: weight_changed ("weight 7, configured 3").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lvsmon.status_client import ask_state
from tests.lab.keepalived_witness import start_keepalived
from tests.plugin_output import run_plugin
from tests.vm.guest.topology import PEERS, REAL_SERVERS, TCP_PORT, UDP_PORT, ServiceSpec, _rs
from tests.vm.guest.topology import ipvs_topology as build_topology

REPO = Path(__file__).resolve().parents[3]
VIP = "10.100.0.9"
SERVICE = f"tcp:{VIP}:80"
RS1, RS2, RS3 = (f"{REAL_SERVERS[host][0]}:{TCP_PORT}" for host in ("rs1", "rs2", "rs3"))
EXPORTER = "127.0.0.1:10573"
CONFIG_ID = "guest"
WAIT = 90  # seconds: keepalived's checks and lvsmon's reads, under TCG


def tcp_check() -> str:
    return ("        TCP_CHECK {\n            connect_timeout 1\n            retry 1\n"
            "            delay_before_retry 1\n        }\n")


CONF = (
    "global_defs {\n    router_id lvsmon-guest\n}\n"
    f"virtual_server {VIP} 80 {{\n"
    "    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    quorum 1\n"
    f"    sorry_server {REAL_SERVERS['rs3'][0]} {TCP_PORT}\n"
    f"    real_server {REAL_SERVERS['rs1'][0]} {TCP_PORT} {{\n        weight 3\n{tcp_check()}"
    "    }\n"
    f"    real_server {REAL_SERVERS['rs2'][0]} {TCP_PORT} {{\n        weight 2\n{tcp_check()}"
    "    }\n"
    "}\n"
)


@pytest.fixture(scope="module")
def setup():
    with build_topology(traffic=False) as topo:
        topo.director.run(["ipvsadm", "-C"])  # keepalived's service alone
        topo.director.ip("addr", "add", f"{VIP}/32", "dev", "lo")
        topo.services["keepalived"] = ServiceSpec("keepalived", "tcp", VIP, 80, None, "rr",
                                                  (_rs("rs1", weight=3), _rs("rs2", weight=2)))
        conf = topo.lab.tmpdir / "keepalived.conf"
        conf.write_text(CONF)
        keepalived = start_keepalived(topo.lab, topo.director, conf, config_id=CONFIG_ID,
                                      part="check", timeout=WAIT)
        sock = str(topo.lab.tmpdir / "status.sock")
        toml = topo.lab.tmpdir / "lvsmon.toml"
        toml.write_text(f'[daemon]\nstatus_socket = "{sock}"\n[observer]\nenabled = false\n'
                        f'[ipvs]\ninterval = 1\n[exporter]\nlisten = ["{EXPORTER}"]\n'
                        f'[keepalived]\nconfig = "{conf}"\nid = "{CONFIG_ID}"\n')
        daemon = topo.director.spawn([sys.executable, "-m", "lvsmon", "run", "--config", toml],
                                     name="lvsmon-run", env={"PYTHONPATH": REPO})
        topo.lab.wait_for(lambda: os.path.exists(sock) or daemon.check_running(), 30,
                          what="the daemon's status socket")
        yield topo, conf, toml, sock
        keepalived.stop()


# -- the three readings ------------------------------------------------------------------------


def cli_diff(topo, conf: Path) -> tuple[int, dict]:
    """`lvsmon keepalived diff --json` in the director: (exit code, the document)."""
    argv = [sys.executable, "-m", "lvsmon", "keepalived", "diff", "--config", str(conf),
            "--id", CONFIG_ID, "--json"]
    done = topo.director.run(argv, check=False, env={"PYTHONPATH": str(REPO)})
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def daemon_diff(sock: str):
    """The daemon's latest comparison (over its status socket, in this process)."""
    return ask_state(sock).keepalived_diff.snapshot


def kinds_of(findings) -> set[tuple[str, str | None]]:
    """{(kind, real server)} of findings, as JSON dicts or Finding objects."""
    return {(f["kind"], f["real_server"]) if isinstance(f, dict) else (f.kind, f.real_server)
            for f in findings}


def until_found(topo, conf: Path, sock: str, wanted: set, what: str) -> tuple[dict, object]:
    """Wait until the daemon's diff finds exactly `wanted`, then hold the CLI's against it;
    (the CLI's JSON, the daemon's diff). Prints how long the daemon took."""
    started = time.monotonic()
    diff = topo.lab.wait_for(
        lambda: (d := daemon_diff(sock)) is not None and kinds_of(d.findings) == wanted and d,
        WAIT, what=what, interval=0.5)
    print(f"{what}: in the daemon's state after {time.monotonic() - started:.1f} s")
    code, document = cli_diff(topo, conf)
    assert kinds_of(document["findings"]) == wanted, document
    assert code == (1 if wanted else 0)
    return document, diff


def check_ipvs(topo, *args: str):
    argv = [sys.executable, "-m", "lvsmon_nagios.check_ipvs", "--source", "netlink", *args]
    return run_plugin(topo.director.exec_argv(argv), timeout=120)


def scrape(topo, name: str) -> dict[tuple, float]:
    """The exporter's samples of `name`: {sorted (label, value) pairs: value}."""
    fetch = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
             "sys.argv[1], timeout=20).read().decode())")
    text = topo.director.run([sys.executable, "-c", fetch, f"http://{EXPORTER}/metrics"]).stdout
    return {tuple(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name}


def stop_server(topo, host: str) -> None:
    topo.servers[host].stop()


def start_server(topo, host: str) -> None:
    process = topo.hosts[host].spawn([sys.executable, "-I", "-S", str(PEERS), "serve", host,
                                      str(TCP_PORT), str(UDP_PORT)], name=f"server-{host}")
    topo.servers[host] = process
    topo.lab.wait_for(lambda: " ready " in process.log() or process.check_running(), 60,
                      what=f"{host} listening again")


# -- the test ----------------------------------------------------------------------------------


def test_keepalived_drift_absent_sorry_and_weight(setup):
    topo, conf, toml, sock = setup
    keepalived = ("--keepalived-config", str(conf), "--keepalived-id", CONFIG_ID)

    # 1. As configured.
    document, _ = until_found(topo, conf, sock, set(), "the table as configured")
    (service,) = document["services"]
    assert service["service"] == SERVICE and service["in_kernel"] is True
    assert {(rs["real_server"], rs["configured_weight"], rs["weight"])
            for rs in service["real_servers"]} == {(RS1, 3, 3), (RS2, 2, 2)}
    assert service["sorry_server"] == RS3 and service["sorry_weight"] is None
    run = check_ipvs(topo, *keepalived)
    assert run.code == 0, run.stdout
    assert run.output.perfdata[f"{SERVICE} available"].value == 2
    assert run.output.perfdata[f"{SERVICE} drift"].value == 0
    status = subprocess.run([sys.executable, "-m", "lvsmon", "status", "--socket", sock],
                            capture_output=True, text=True, timeout=30, check=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    assert "keepalived drift: none, IPVS is as keepalived.conf configures it" in status, status

    # 2. rs1's service down: keepalived's check removes it.
    stop_server(topo, "rs1")
    document, diff = until_found(topo, conf, sock, {("real_server_absent", RS1)}, "rs1 absent")
    (finding,) = diff.findings
    assert finding.detail.startswith(f"{RS1} of {SERVICE}: configured weight 3, not in the "
                                     "kernel"), finding.detail
    run = check_ipvs(topo, *keepalived)
    assert run.code == 1, run.stdout
    assert run.output.perfdata[f"{SERVICE} available"].value == 1
    assert run.output.perfdata[f"{SERVICE} available_percent"].value == 50

    # 3. rs2's too: quorum lost, the sorry server serves.
    stop_server(topo, "rs2")
    wanted = {("real_server_absent", RS1), ("real_server_absent", RS2),
              ("sorry_server_serving", RS3)}
    document, diff = until_found(topo, conf, sock, wanted, "the sorry server serving")
    sorry = next(f for f in diff.findings if f.kind == "sorry_server_serving")
    assert sorry.detail == (f"{SERVICE}: sorry server {RS3} serving (quorum 1 lost); not "
                            f"serving: {RS1} (absent), {RS2} (absent)")
    assert topo.send_tcp("keepalived", 4) == {"rs3": 4}
    for args in (keepalived, ("--config", str(toml))):  # the file named, or lvsmon.toml's
        run = check_ipvs(topo, *args)
        assert run.code == 2, run.stdout
        assert run.output.summary.startswith(
            f"{SERVICE}: 0 of 2 real servers available (only the sorry server {RS3} has "
            f"weight: quorum lost, down: {RS1} (absent), {RS2} (absent))"), run.stdout
    assert check_ipvs(topo, "--no-keepalived").code == 0  # unnamed, rs3 looks like any server
    sorry_gauge = scrape(topo, "lvsmon_keepalived_sorry_server_active")
    assert sorry_gauge == {(("service", SERVICE), ("sorry_server", RS3)): 1}, sorry_gauge

    # 4. Both back: as configured again.
    start_server(topo, "rs1")
    start_server(topo, "rs2")
    until_found(topo, conf, sock, set(), "both real servers back, the sorry server gone")
    assert sorted(topo.send_tcp("keepalived", 5)) == ["rs1", "rs2"]

    # 5. A weight changed by hand.
    topo.ipvsadm("-e", "-t", f"{VIP}:80", "-r", RS1, "-m", "-w", "7")
    document, diff = until_found(topo, conf, sock, {("weight_changed", RS1)}, "weight drift")
    (finding,) = diff.findings
    assert finding.detail.startswith(f"{RS1} of {SERVICE}: weight 7, configured 3")
    run = check_ipvs(topo, *keepalived)
    assert run.code == 1 and run.output.summary.startswith(
        f"{RS1} of {SERVICE}: weight 7, configured 3"), run.stdout
    drift = scrape(topo, "lvsmon_keepalived_drift")
    assert drift == {(("kind", "weight_changed"), ("real_server", RS1), ("service", SERVICE)): 1}
    assert scrape(topo, "lvsmon_keepalived_sorry_server_active") == {
        (("service", SERVICE), ("sorry_server", RS3)): 0}
