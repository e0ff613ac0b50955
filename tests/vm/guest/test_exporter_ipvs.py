"""`lvsmon run` in the IPVS guest's director, as nobody with CAP_NET_RAW and CAP_NET_ADMIN only,
scraped by a real Prometheus:

- it observes (its own participant's adverts), participates (master of VRID 90, VIP added),
  reads IPVS over netlink and serves metrics, with no other privilege;
- its IPVS series equal `ipvsadm -Ln --stats --exact` on the same, quiet table;
- every panel query of the shipped Grafana dashboard returns data from that Prometheus.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.lab.prometheus import Prometheus
from tests.lab.vrrp_participant import participant_toml
from tests.vm.guest.topology import DIRECTOR_RS_V4

REPO = Path(__file__).resolve().parents[3]
PORT = 10573
VIP = "10.20.0.90/24"
CAPS = "-all,+net_raw,+net_admin"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
          f"--inh-caps={CAPS}", f"--ambient-caps={CAPS}", f"--bounding-set={CAPS}"]
COUNTERS = ("connections", "incoming_packets", "outgoing_packets", "incoming_bytes",
            "outgoing_bytes")  # in the order of ipvsadm's --stats columns


def scrape(topo) -> dict[tuple[str, frozenset], float]:
    fetch = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
             "sys.argv[1], timeout=30).read().decode())")
    text = topo.director.run([sys.executable, "-c", fetch,
                              f"http://{DIRECTOR_RS_V4}:{PORT}/metrics"], timeout=60).stdout
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_unprivileged_daemon_exporter_and_dashboard(ipvs_topology):
    topo = ipvs_topology
    lab, director = topo.lab, topo.director
    lab.tmpdir.chmod(0o755)
    home = lab.tmpdir / "nobody"
    home.mkdir()
    os.chown(home, 65534, 65534)
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(
        f'[daemon]\nstatus_socket = "{home / "run" / "status.sock"}"\n'
        '[observer]\ninterfaces = ["rsnet"]\n[ipvs]\ninterval = 1\n'
        f'[exporter]\nlisten = ["{DIRECTOR_RS_V4}:{PORT}"]\n'
        + participant_toml([{"name": "web90", "interface": "rsnet", "vrid": 90,
                             "priority": 150, "advert_interval": 0.5, "vips": [VIP]}])
    )  # fmt: skip
    daemon = director.spawn([*NOBODY, sys.executable, "-m", "lvsmon", "run", "--config", config],
                            name="lvsmon-run", env={"PYTHONPATH": REPO})  # fmt: skip
    prometheus = Prometheus(lab, director, {"lvsmon": [f"{DIRECTOR_RS_V4}:{PORT}"]},
                            rules=[REPO / "deploy" / "prometheus-lvsmon.rules.yml"])

    def up(source: str) -> bool:
        return scrape(topo).get(("lvsmon_source_up", frozenset({("source", source)}))) == 1

    lab.wait_for(lambda: all(up(s) for s in ("vrrp", "participant", "ipvs")), 90,
                 what="every source up in the unprivileged daemon")  # fmt: skip
    uid = next(line.split()[1] for line in Path(f"/proc/{daemon.pid}/status").read_text()
               .splitlines() if line.startswith("Uid:"))  # fmt: skip
    assert uid == "65534"
    state = ("lvsmon_vrrp_instance_state", frozenset({
        ("vrrp_instance", "web90"), ("interface", "rsnet"), ("vrid", "90"), ("state", "master")}))
    lab.wait_for(lambda: scrape(topo).get(state) == 1, 30, what="web90 master")
    lab.wait_for(lambda: director.has_address(VIP.split("/")[0]), 10, what="the VIP, added")
    masters = ("lvsmon_vrrp_masters",
               frozenset({("interface", "rsnet"), ("family", "inet"), ("vrid", "90")}))
    lab.wait_for(lambda: scrape(topo).get(masters) == 1, 30, what="its own adverts observed")

    # The IPVS series against ipvsadm, on a quiet table read after the traffic settled.
    topo.settle()
    witness = {name: topo.stats(name) for name in topo.services}
    taken = time.time()

    def read_after_witness():
        series = scrape(topo)
        return series if (_last_ipvs_read(series) or 0) > taken else None

    series = lab.wait_for(read_after_witness, 30, what="a daemon read after ipvsadm's")
    compared = 0
    for name, spec in topo.services.items():
        for endpoint, stats in witness[name].items():
            if endpoint == "service":
                prefix, labels = "lvsmon_ipvs_service_", {("service", spec.text)}
            else:
                prefix = "lvsmon_ipvs_real_server_"
                labels = {("service", spec.text), ("real_server", endpoint)}
            got = tuple(series.get((f"{prefix}{counter}_total", frozenset(labels)))
                        for counter in COUNTERS)  # fmt: skip
            expected = (stats.connections, stats.packets_in, stats.packets_out, stats.bytes_in,
                        stats.bytes_out)  # fmt: skip
            assert got == expected, (name, endpoint, got, expected)
            compared += 1
        for rs in spec.real_servers:
            weight = series[("lvsmon_ipvs_real_server_weight",
                             frozenset({("service", spec.text), ("real_server", rs.endpoint)}))]
            assert weight == rs.weight, (name, rs.endpoint)
    assert compared >= 10

    # Every panel of the dashboard has data, with traffic flowing for the rate panels.
    traffic = topo.start_traffic("nat", seconds=20, per_second=10)
    dashboard = json.loads((REPO / "deploy" / "grafana-lvsmon.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expression = (target["expr"].replace("$instance", ".*")
                          .replace("$__rate_interval", "1m"))  # fmt: skip
            prometheus.wait_for(expression, 90, what=f"data for panel {panel['title']!r}")
    traffic.wait(120)

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(30) == 0, daemon.describe()
    assert not director.has_address(VIP.split("/")[0])
    assert "Traceback" not in daemon.log(), daemon.log()


def _last_ipvs_read(series) -> float | None:
    return series.get(("lvsmon_source_last_success_timestamp_seconds",
                       frozenset({("source", "ipvs")})))
