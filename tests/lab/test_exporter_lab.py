"""`lvsmon run` as a scrape target: a real Prometheus with the shipped alert rules scrapes it.

Namespaces a (keepalived, priority 150 for VRID 51 and 200 for VRID 71) and b (keepalived,
priority 100 for VRID 51) share a segment with d, where the daemon observes eth0 and runs
the participant instance web71 (VRID 71, priority 100, so a preempts it), and with m, where
Prometheus scrapes d every second. This kernel has no IPVS: the ipvs source is down while
the rest is served. Then a split brain (nftables between a and b): lvsmon_vrrp_masters 2,
the split_brain series 1, the LvsmonVrrpSplitBrain alert firing; healed, all back.
"""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.lab.firewall import block_vrrp, unblock_vrrp
from tests.lab.keepalived import keepalived_conf, spawn_keepalived, vrrp_instance
from tests.lab.prometheus import Prometheus
from tests.lab.vrrp_participant import participant_toml

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian prometheus"),
]

REPO = Path(__file__).resolve().parents[2]
A4, B4, D4, M4 = "10.34.0.11", "10.34.0.12", "10.34.0.30", "10.34.0.40"
PORT = 10573
VIP51, VIP71 = "10.34.0.151/24", "10.34.0.171/24"


def scrape(namespace, openmetrics: bool) -> str:
    accept = "application/openmetrics-text; version=1.0.0" if openmetrics else "text/plain"
    fetch = ("import sys, urllib.request; request = urllib.request.Request(sys.argv[1], "
             "headers={'Accept': sys.argv[2]}); sys.stdout.write(urllib.request.urlopen("
             "request, timeout=20).read().decode())")  # fmt: skip
    return namespace.run([sys.executable, "-c", fetch, f"http://{D4}:{PORT}/metrics",
                          accept]).stdout


def test_prometheus_scrapes_the_daemon_and_the_split_brain_alert_fires(lab):
    segment = lab.segment("vrrp")
    a, b, d, m = (lab.namespace(name) for name in ("a", "b", "d", "m"))
    for namespace, address in ((a, A4), (b, B4), (d, D4), (m, M4)):
        segment.attach(namespace, [f"{address}/24"])
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(
        f'[daemon]\nstatus_socket = "{lab.tmpdir / "status.sock"}"\n'
        '[observer]\ninterfaces = ["eth0"]\n[ipvs]\ninterval = 1\n'
        f'[exporter]\nlisten = ["{D4}:{PORT}"]\n'
        + participant_toml([{"name": "web71", "interface": "eth0", "vrid": 71, "priority": 100,
                             "advert_interval": 0.5, "vips": [VIP71]}])
    )  # fmt: skip
    daemon = d.spawn([sys.executable, "-m", "lvsmon", "run", "--config", config],
                     name="lvsmon-run", env={"PYTHONPATH": REPO})  # fmt: skip
    spawn_keepalived(lab, b, keepalived_conf("node-b", [
        vrrp_instance("V51", vrid=51, priority=100, version=3, advert_int=0.5, vips=[VIP51]),
    ]))  # fmt: skip
    spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance("V51", vrid=51, priority=150, version=3, advert_int=0.5, vips=[VIP51]),
        vrrp_instance("V71", vrid=71, priority=200, version=3, advert_int=0.5, vips=[VIP71]),
    ]))  # fmt: skip
    prometheus = Prometheus(lab, m, {"lvsmon": [f"{D4}:{PORT}"]},
                            rules=[REPO / "deploy" / "prometheus-lvsmon.rules.yml"])

    # The healthy site, through Prometheus's query API.
    prometheus.wait_for(f'lvsmon_vrrp_router_master{{vrid="51",router="{A4}"}} == 1', 60,
                        what="a master of VRID 51 in Prometheus")  # fmt: skip
    # router_master is 1 for every router advertising: if b won the start-up election, it
    # still counts as advertising for its Master_Down_Interval after a preempts it.
    prometheus.wait_for('lvsmon_vrrp_masters{vrid="51"} == 1', 30, what="one master of VRID 51")
    assert prometheus.values('lvsmon_vrrp_masters{vrid="51"}', "vrid") == {"51": 1.0}
    priorities = prometheus.values('lvsmon_vrrp_router_priority{vrid="51"}', "router")
    assert priorities[A4] == 150 and priorities.get(B4, 100) == 100
    prometheus.wait_for('lvsmon_vrrp_instance_state{vrrp_instance="web71",state="backup"} == 1',
                        30, what="web71 preempted by a")  # fmt: skip
    assert prometheus.values('lvsmon_vrrp_instance_priority{vrrp_instance="web71"}', "vrid") \
        == {"71": 100.0}
    transitions = prometheus.values("lvsmon_vrrp_instance_transitions_total", "vrrp_instance")
    assert transitions["web71"] >= 1  # INITIALIZE -> BACKUP at least
    up = prometheus.values("lvsmon_source_up", "source")
    assert up == {"vrrp": 1.0, "participant": 1.0, "ipvs": 0.0}, up  # no IPVS in this kernel
    assert prometheus.values('up{job="lvsmon"}', "job") == {"lvsmon": 1.0}

    # Both exposition formats, as served: promtool lints the text one (2.42 reads no
    # OpenMetrics), the strict OpenMetrics parser reads the other (Prometheus scrapes it).
    text = scrape(m, openmetrics=False)
    lint = m.run(["promtool", "check", "metrics"], input=text, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    names = {family.name for family in text_string_to_metric_families(scrape(m, True))}
    assert {"lvsmon_vrrp_masters", "lvsmon_vrrp_instance_state", "lvsmon_source_up"} <= names

    # Split brain: a and b stop hearing each other; d hears both.
    block_vrrp(a, B4)
    block_vrrp(b, A4)
    prometheus.wait_for('lvsmon_vrrp_masters{vrid="51"} == 2', 60, what="two masters")
    prometheus.wait_for('lvsmon_vrrp_anomaly{vrid="51",anomaly="split_brain"} == 1', 60,
                        what="the split_brain series")  # fmt: skip
    firing = prometheus.wait_for(
        'ALERTS{alertname="LvsmonVrrpSplitBrain",alertstate="firing"}', 60,
        what="the split brain alert firing")
    assert {labels["vrid"] for labels, _ in firing} == {"51"}

    unblock_vrrp(a)
    unblock_vrrp(b)
    prometheus.wait_for('lvsmon_vrrp_anomaly{vrid="51",anomaly="split_brain"} == 0', 60,
                        what="split brain over")  # fmt: skip
    assert prometheus.values('lvsmon_vrrp_masters{vrid="51"}', "vrid") == {"51": 1.0}
    lab.wait_for(lambda: not prometheus.query('ALERTS{alertname="LvsmonVrrpSplitBrain"}'), 60,
                 what="the alert resolved")  # fmt: skip

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.describe()
    assert "Traceback" not in daemon.log(), daemon.log()


def test_health_endpoint_and_landing_page_without_prometheus(lab):
    """The exporter's own pages, and a source that cannot work (IPVS) reported as 0."""
    d = lab.namespace("d")
    lab.segment("lan").attach(d, [f"{D4}/24"])
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(f'[daemon]\nstatus_socket = "{lab.tmpdir / "status.sock"}"\n'
                      '[observer]\nenabled = false\n[ipvs]\ninterval = 1\n'
                      f'[exporter]\nlisten = ["{D4}:{PORT}"]\n')  # fmt: skip
    daemon = d.spawn([sys.executable, "-m", "lvsmon", "run", "--config", config],
                     name="lvsmon-run", env={"PYTHONPATH": REPO})  # fmt: skip

    def get(path: str) -> str:
        fetch = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
                 "sys.argv[1], timeout=10).read().decode())")
        return d.run([sys.executable, "-c", fetch, f"http://{D4}:{PORT}{path}"]).stdout

    lab.wait_for(lambda: "OK" in get("/-/healthy"), 30, what="the health endpoint")
    assert 'href="metrics"' in get("/")
    def ipvs_down():
        text = get("/metrics")
        return text if 'lvsmon_source_up{source="ipvs"} 0' in text else None

    metrics = lab.wait_for(ipvs_down, 30, what="ipvs reported down")
    assert "lvsmon_build_info" in metrics and 'source="vrrp"' not in metrics  # observer off
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.describe()
