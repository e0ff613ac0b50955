"""SNAT loss is never silent: with `lvsmon snat run` in the lab's router and an event overflow
provoked with a tiny receive buffer, the loss shows in check_snat run through real NRPE and
in the exporter as a real Prometheus scrapes it.

    monitor 10.71.3.2 --- 10.71.3.1 router (lvsmon snat run, nrpe, lvsmon snat exporter)
    check_nrpe and prometheus run in "monitor"; the SNAT lab (snat_topology) is unchanged.

NRPE runs its commands as user nagios (nrpe_user), so the recorder runs as nagios too, with
only CAP_NET_ADMIN (ambient): the least-privilege way to deploy it, and then check_snat may
read its status file (0600) and store.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.lab import nrpe
from tests.lab import snat_topology as topo
from tests.plugin_output import judged

ROUTER_MONITOR, MONITOR = "10.71.3.1", "10.71.3.2"
EXPORTER_PORT, PROMETHEUS_PORT = 10574, 9090
OK, WARNING, CRITICAL = 0, 1, 2


def missing() -> str | None:
    """Why this test cannot run here, or None."""
    if not all(shutil.which(p) for p in ("prometheus", "promtool")):
        return "needs Debian prometheus"
    return nrpe.missing()


_MISSING = missing()
pytestmark = [pytest.mark.lab, pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))]


def as_user(argv: list[str]) -> list[str]:
    """argv run as nrpe's user with CAP_NET_ADMIN only (conntrack events, SO_RCVBUFFORCE)."""
    return ["setpriv", "--reuid", nrpe.USER, "--regid", nrpe.USER, "--init-groups",
            "--inh-caps", "+net_admin", "--ambient-caps", "+net_admin", *argv]


def start_recorder(snat, home: Path):
    status = home / "status.json"
    # 4 KiB receive buffer: a handful of events; a burst of new connections overflows it.
    proc = snat.router.spawn(as_user(
        [sys.executable, "-m", "lvsmon", "snat", "run", "--store", str(home / "snat.sqlite"),
         "--status-file", str(status), "--node", "router", "--no-accounting",
         "--receive-buffer-bytes", "4096"]), name="lvsmon-snat", env=topo.PYTHON_ENV)

    def ready():
        proc.check_running()
        return status.exists() and json.loads(status.read_text())["dumps"] >= 1

    snat.lab.wait_for(ready, 15, what="lvsmon snat run ready")
    return proc, status


def check_nrpe(monitor) -> tuple[int, str]:
    code, out = nrpe.check_nrpe(monitor, ROUTER_MONITOR, "check_snat")
    judged(code, out)  # the guidelines' output rules, perfdata included
    return code, out.strip()


def perfdata(output: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in output.split("|", 1)[1].split())


def start_prometheus(snat, monitor, home: Path):
    conf = Path(snat.lab.tmpdir) / "prometheus.yml"
    conf.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: lvsmon_snat\n"
        "    static_configs:\n"
        f"      - targets: ['{ROUTER_MONITOR}:{EXPORTER_PORT}']\n")
    storage = Path(snat.lab.tmpdir) / "prometheus-data"
    storage.mkdir()
    proc = monitor.spawn(["prometheus", f"--config.file={conf}",
                          f"--storage.tsdb.path={storage}",
                          f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
                         name="prometheus")
    snat.lab.wait_for(lambda: nrpe.listening(monitor, PROMETHEUS_PORT), 30,
                      what="prometheus listening")
    return proc


def prometheus_query(monitor, expression: str) -> list[tuple[dict, float]]:
    """An instant query through promtool, in the monitor namespace: [(labels, value)]."""
    done = monitor.run(["promtool", "query", "instant", "-o", "json",
                        f"http://127.0.0.1:{PROMETHEUS_PORT}", expression], timeout=20)
    return [(sample["metric"], float(sample["value"][1]))
            for sample in json.loads(done.stdout)]


def scrape(monitor) -> str:
    fetch = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
             "sys.argv[1], timeout=10).read().decode())")
    return monitor.run([sys.executable, "-c", fetch,
                        f"http://{ROUTER_MONITOR}:{EXPORTER_PORT}/metrics"]).stdout


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def overflow_bursts(snat, status: Path, limit: float = 240.0) -> int:
    """Churn bursts until the recorder has counted a lost event; returns how many it took."""
    deadline, bursts = time.monotonic() + limit, 0
    while json.loads(status.read_text())["lost_events"] == 0:
        assert time.monotonic() < deadline, f"no overflow after {bursts} churn bursts"
        bursts += 1
        churners = [snat.python(ns, "churn", topo.SERVER, str(topo.PORT), "3",
                                name=f"churn{bursts}-{n}") for n, ns in enumerate(snat.clients)]
        for churner in churners:
            snat.lab.wait_for(lambda c=churner: not c.alive, 60, what="churn burst finished")
    return bursts


def test_loss_shows_in_check_snat_over_nrpe_and_in_prometheus(lab):
    snat = topo.build(lab)
    monitor = lab.namespace("monitor")
    lab.veth(snat.router, monitor, f"{ROUTER_MONITOR}/24", f"{MONITOR}/24",
             a_ifname="to-monitor", b_ifname="eth0")
    home = nrpe.user_dir(lab, "snat")
    recorder, status = start_recorder(snat, home)
    check = f"{nrpe.plugin_program(home, 'check_snat')} --status-file {status} -w 0 -c 1000"
    nrpe.start_nrpe(lab, snat.router, home, {"check_snat": check}, ROUTER_MONITOR,
                    allowed_hosts=MONITOR)
    exporter = snat.router.spawn(
        [sys.executable, "-m", "lvsmon", "snat", "exporter", "--listen",
         f"{ROUTER_MONITOR}:{EXPORTER_PORT}", "--status-file", str(status)],
        name="exporter", env=topo.PYTHON_ENV)
    lab.wait_for(lambda: nrpe.listening(snat.router, EXPORTER_PORT), 10,
                 what="exporter listening")
    start_prometheus(snat, monitor, home)

    # Before the overflow: OK, nothing lost, in NRPE and in Prometheus.
    code, out = check_nrpe(monitor)
    assert code == OK, (out, (home / "nrpe.log").read_text()[-3000:])
    assert out.startswith("SNAT OK - recorder running (pid ") and ", 0 events lost" in out
    assert perfdata(out)["lost_events"] == "0c;0;1000;0"
    lab.wait_for(lambda: prometheus_query(monitor, "lvsmon_snat_up == 1"), 30,
                 what="prometheus scraped lvsmon_snat_up 1")
    [(_, lost_before)] = prometheus_query(monitor, "lvsmon_snat_events_lost_total")
    assert lost_before == 0

    # A burst of new connections overflows the 4 KiB buffer. On a quiet machine the recorder
    # may keep up with it; then bursts of short connections from both clients follow, until
    # a loss is counted.
    held = snat.python(snat.clients[0], "hold", topo.SERVER, str(topo.PORT), "200",
                       name="hold")
    lab.wait_for(lambda: '"held"' in held.log(), 30, what="200 held connections")
    overflow_bursts(snat, status)
    # The bursts' connections linger in TIME_WAIT for two minutes; their expiry in a batch
    # could overflow the buffer again while NRPE, the exporter and Prometheus are compared
    # below. Delete them now, so that their DESTROY events come before the count settles.
    topo.expire_ended_flows(snat.router)

    # Settled: a loss was counted, the re-dump is over, and the recorder has since rewritten
    # its status twice (it does so every second) with the same count. A busy machine only
    # makes this take longer, hence the generous limit.
    seen = {}

    def settled_loss():
        info = json.loads(status.read_text())
        if info["lost_events"] == 0 or info["dumping"] or info["dumps"] < 2:
            return None
        first = seen.setdefault(info["lost_events"], info["updated_ns"])
        return info if info["updated_ns"] - first >= 2_000_000_000 else None

    info = lab.wait_for(settled_loss, 120, what="overflow counted and settled")
    lost = info["lost_events"]

    code, out = check_nrpe(monitor)
    said_on_loss = out.split("|")[0]
    assert code == (CRITICAL if lost > 1000 else WARNING), out
    assert f"{lost} events lost since the recorder started" in out
    perf = perfdata(out)
    assert perf["lost_events"] == f"{lost}c;0;1000;0"
    assert perf["overflows"] == f"{info['overflows']}c;;;0"
    assert perf["running"] == "1;;;0;1"

    # The exporter over a real HTTP scrape, linted by promtool; then Prometheus has it.
    text = scrape(monitor)
    assert sample(text, "lvsmon_snat_events_lost_total") == lost
    assert sample(text, "lvsmon_snat_overflows_total") == info["overflows"]
    assert sample(text, "lvsmon_snat_redumps_total") >= 1
    assert sample(text, "lvsmon_snat_records_stored") >= 200
    lint = monitor.run(["promtool", "check", "metrics"], input=text, check=False)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout
    found = lab.wait_for(lambda: prometheus_query(monitor, "lvsmon_snat_events_lost_total > 0"),
                         30, what="prometheus sees lvsmon_snat_events_lost_total > 0")
    [(labels, value)] = found
    assert value == lost and labels["job"] == "lvsmon_snat"
    [(_, redumps)] = prometheus_query(monitor, "lvsmon_snat_redumps_total")
    assert redumps >= 1

    # The recorder stops: CRITICAL over NRPE, and Prometheus sees it down.
    held.stop()
    recorder.send_signal(signal.SIGTERM)
    assert recorder.wait(10) == 0
    code, out = check_nrpe(monitor)
    assert code == CRITICAL, out
    assert out.startswith("SNAT CRITICAL - recorder not running: stopped at ")
    lab.wait_for(lambda: prometheus_query(monitor, "lvsmon_snat_up == 0"), 30,
                 what="prometheus scraped lvsmon_snat_up 0")
    assert exporter.alive
    print(f"loss over NRPE and Prometheus: {lost} events lost in {info['overflows']} "
          f"overflow(s), {info['dumps'] - 1} re-dump(s); check_nrpe said: {said_on_loss}, "
          f"then: {out.split('|')[0]}")
