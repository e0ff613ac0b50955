"""The exporter's metric families from hand-built DaemonStates: names, labels, values, what is
left out, and promtool's lint in both exposition formats."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from lvsmon.model import Counters, IpvsTable, RealServer, ServiceKey, VirtualService
from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.drain import DrainGuardSnapshot, HeldDrain
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.vrrp import (
    Anomaly,
    DecodeCounts,
    InstanceSnapshot,
    ObserverSnapshot,
    ParticipantSnapshot,
    RouterSeen,
    SegmentView,
    TrackStatus,
)
from lvsmon_exporter.collector import families

A, B = "10.0.0.11", "10.0.0.12"


def router(address, priority, advertising, adverts=10):
    return RouterSeen(address, 3, priority, 50, None, ("10.0.0.100",), "rfc5798", 255,
                      adverts, 1.0, 99.5, advertising)  # fmt: skip


def observer() -> ObserverSnapshot:
    split = Anomaly("split_brain", 90.0, None, (A, B), "2 routers advertising at once")
    ended = Anomaly("interval_mismatch", 10.0, 20.0, (A, B), "ended")
    view = SegmentView("eth0", "inet", 51, A, 5.0, 2, (router(A, 150, True), router(B, 100, True)),
                       (ended, split), (), 100.0)  # fmt: skip
    quiet = SegmentView("eth0", "inet6", 52, None, None, 0, (router("fe80::1", 100, False),), (),
                        (), 100.0)  # fmt: skip
    counts = DecodeCounts(40, FrozenDict(bad_type=2, truncated=0), FrozenDict())
    return ObserverSnapshot(100.0, ("eth0",), (view, quiet), FrozenDict(eth0=counts))


def participant() -> ParticipantSnapshot:
    web = InstanceSnapshot("web", "eth0", "inet", 61, 3, "MASTER", 140, 150, A, A, 50.0, (),
                           (TrackStatus("nginx", False, "exit 1"),), FrozenDict(bad_ttl=3),
                           transitions=4, adverts_sent=120, adverts_received=7)  # fmt: skip
    return ParticipantSnapshot(100.0, (web,))


def table(source="netlink") -> IpvsTable:
    known = source == "netlink"
    counters = Counters(30, 300, 290, 40000, 120000) if known else Counters()
    servers = (
        RealServer("10.0.1.2", 80, "masq", 3, 5, 7, stats=counters),
        RealServer("2001:db8::2", 80, "route", 0, 0, 1, stats=counters),
    )
    return IpvsTable(source, 99.0, (
        VirtualService(ServiceKey("tcp", "inet", "10.0.0.1", 80), "wlc", ("persistent",), 300,
                       32, None, servers, counters),
        VirtualService(ServiceKey("fwm", "inet", fwmark=7), "rr", stats=counters),
    ), stats=Counters(60, 600, 580, 80000, 240000) if known else Counters())  # fmt: skip


def state(ipvs_source="netlink") -> DaemonState:
    return DaemonState(
        DaemonInfo("1.0", 1, 10.0, 100.0),
        vrrp=SourceState(True).succeeded(observer(), 100.0),
        participant=SourceState(True).succeeded(participant(), 100.0),
        ipvs=SourceState(True).succeeded(table(ipvs_source), 99.0),
        snat=SourceState(True).failed("no status file /run/lvsmon/snat-status.json", 98.0),
    )


def render(daemon_state: DaemonState, openmetrics: bool = False) -> bytes:
    class Collector:
        def collect(self):
            return families(daemon_state, now=105.0)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return (generate_openmetrics if openmetrics else generate_latest)(registry)


def samples(text: bytes) -> dict:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            # An empty label is no label to Prometheus (keepalived_instance where none).
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if v)
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def test_observed_vrrp():
    got = samples(render(state()))
    view = "family=inet,interface=eth0,vrid=51"
    assert got[f"lvsmon_vrrp_masters{{{view}}}"] == 2  # split brain
    assert got["lvsmon_vrrp_masters{family=inet6,interface=eth0,vrid=52}"] == 0
    assert got[f"lvsmon_vrrp_master_changes_total{{{view}}}"] == 2
    assert got[f"lvsmon_vrrp_anomaly{{anomaly=split_brain,{view}}}"] == 1
    assert got[f"lvsmon_vrrp_anomaly{{anomaly=interval_mismatch,{view}}}"] == 0  # ended
    assert sum(1 for key in got if key.startswith("lvsmon_vrrp_anomaly{")) == 2 * 12
    key = f"family=inet,interface=eth0,router={A},vrid=51"
    assert got[f"lvsmon_vrrp_router_priority{{{key}}}"] == 150
    assert got[f"lvsmon_vrrp_router_advert_interval_seconds{{{key}}}"] == 0.5
    assert got[f"lvsmon_vrrp_router_adverts_total{{{key}}}"] == 10
    assert got[f"lvsmon_vrrp_router_last_advert_timestamp_seconds{{{key}}}"] == 99.5
    assert got[f"lvsmon_vrrp_router_master{{{key}}}"] == 1
    assert got["lvsmon_vrrp_router_master{family=inet6,interface=eth0,router=fe80::1,vrid=52}"] == 0
    assert got["lvsmon_vrrp_packets_rejected_total{interface=eth0,reason=bad_type}"] == 2


def test_participant_instances():
    got = samples(render(state()))

    def value(name, **labels):
        labels = {"interface": "eth0", "vrid": "61", "vrrp_instance": "web", **labels}
        return got.get(f"{name}{{{','.join(f'{k}={v}' for k, v in sorted(labels.items()))}}}")

    assert value("lvsmon_vrrp_instance_state", state="master") == 1
    assert [value("lvsmon_vrrp_instance_state", state=s) for s in ("init", "backup", "fault")] \
        == [0, 0, 0]
    assert value("lvsmon_vrrp_instance_priority") == 140
    assert value("lvsmon_vrrp_instance_base_priority") == 150
    assert value("lvsmon_vrrp_instance_transitions_total") == 4
    assert value("lvsmon_vrrp_instance_adverts_sent_total") == 120
    assert value("lvsmon_vrrp_instance_adverts_dropped_total", reason="bad_ttl") == 3
    assert value("lvsmon_vrrp_instance_track_up", track="nginx") == 0


def test_ipvs_from_netlink():
    got = samples(render(state()))
    svc, rs = "service=tcp:10.0.0.1:80", "real_server=10.0.1.2:80"
    assert got[f"lvsmon_ipvs_real_server_weight{{{rs},{svc}}}"] == 3
    assert got[f"lvsmon_ipvs_real_server_weight{{real_server=[2001:db8::2]:80,{svc}}}"] == 0
    assert got[f"lvsmon_ipvs_real_server_active_connections{{{rs},{svc}}}"] == 5
    assert got[f"lvsmon_ipvs_real_server_inactive_connections{{{rs},{svc}}}"] == 7
    assert got[f"lvsmon_ipvs_real_server_connections_total{{{rs},{svc}}}"] == 30
    assert got[f"lvsmon_ipvs_real_server_outgoing_bytes_total{{{rs},{svc}}}"] == 120000
    assert got[f"lvsmon_ipvs_service_incoming_packets_total{{{svc}}}"] == 300
    assert got[f"lvsmon_ipvs_service_real_servers_available{{{svc}}}"] == 1
    assert got["lvsmon_ipvs_service_real_servers_available{service=fwm:7}"] == 0
    assert got["lvsmon_ipvs_connections_total{}"] == 60
    info = "address=10.0.0.1,family=inet,flags=persistent,persistence=300,port=80,"
    assert got[f"lvsmon_ipvs_service_info{{{info}protocol=tcp,scheduler=wlc,{svc}}}"] == 1
    assert got[f"lvsmon_ipvs_real_server_info{{forward=masq,{rs},{svc}}}"] == 1


def test_counters_procfs_cannot_know_are_absent_not_zero():
    got = samples(render(state("procfs")))
    assert not [key for key in got if key.startswith("lvsmon_ipvs_service_connections_total")]
    assert not [key for key in got if key.startswith("lvsmon_ipvs_real_server_incoming")]
    assert not [key for key in got if key.startswith("lvsmon_ipvs_connections_total")]
    weight = "lvsmon_ipvs_real_server_weight{real_server=10.0.1.2:80,service=tcp:10.0.0.1:80}"
    assert got[weight] == 3


def test_health():
    got = samples(render(state()))
    assert got["lvsmon_source_up{source=ipvs}"] == 1
    assert got["lvsmon_source_up{source=snat}"] == 0
    assert got["lvsmon_source_last_success_age_seconds{source=ipvs}"] == 6.0
    assert "lvsmon_source_last_success_timestamp_seconds{source=snat}" not in got
    build = [key for key in got if key.startswith("lvsmon_build_info{")]
    assert build and "version=" in build[0]


def test_a_disabled_source_has_no_health_series():
    quiet = DaemonState(DaemonInfo("1.0", 1, 10.0, 100.0))
    got = samples(render(quiet))
    assert not [key for key in got if key.startswith("lvsmon_source_up")]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")
def test_promtool_accepts_the_text_format():
    done = subprocess.run(["promtool", "check", "metrics"], input=render(state()),
                          capture_output=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_openmetrics_parses_strictly():
    """promtool 2.42 (Debian 12) lints only the text format; OpenMetrics is parsed here with the
    strict parser, and a real Prometheus scrapes it in the lab tests."""
    parsed = list(openmetrics_families(render(state(), openmetrics=True).decode()))
    names = {family.name for family in parsed}
    assert {"lvsmon_vrrp_masters", "lvsmon_ipvs_service", "lvsmon_source_up"} <= names


# -- keepalived.conf: instance names, configured versus heard, drift ---------------------------

KEEPALIVED_CONF = """\
vrrp_instance VI_WEB {
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 0.5
  virtual_ipaddress {
    10.0.0.100
  }
}
vrrp_instance VI_DOWN {
  interface eth0
  virtual_router_id 53
  priority 90
  virtual_ipaddress {
    10.0.0.200
  }
}
virtual_server 10.0.0.1 80 {
  protocol TCP
  sorry_server 10.0.9.9 80
  real_server 10.0.1.2 80 {
    weight 5
  }
  real_server 10.0.1.3 80 {
    weight 1
  }
}
virtual_server 10.0.0.2 443 {
  protocol TCP
  real_server 10.0.1.2 443 {
    weight 1
  }
}
"""


def keepalived_state(tmp_path) -> DaemonState:
    """state() with keepalived.conf read: VRID 51 configured as VI_WEB (this node is A),
    VRID 52 not configured; VI_DOWN (VRID 53) configured, never heard."""
    import dataclasses

    from lvsmon.keepalived import read_config
    from lvsmon.keepalived.diff import compare
    from lvsmon.keepalived.expect import expectations

    path = tmp_path / "keepalived.conf"
    path.write_text(KEEPALIVED_CONF)
    conf = read_config(str(path), "lb1")
    web, down = expectations(conf, {"eth0": (A,)})
    snapshot = observer()
    heard, quiet = snapshot.segments
    views = (dataclasses.replace(heard, configured=web, own_state="master"), quiet,
             SegmentView("eth0", "inet", 53, None, None, 0, (), (), (), 100.0, configured=down,
                         own_state="fault"))
    snapshot = dataclasses.replace(snapshot, segments=views)
    diff = compare(conf, table())
    return dataclasses.replace(
        state(), vrrp=SourceState(True).succeeded(snapshot, 100.0),
        keepalived=SourceState(True).succeeded(conf, 90.0),
        keepalived_diff=SourceState(True).succeeded(diff, 99.0))


def test_views_and_routers_are_named_by_a_join(tmp_path):
    """The VRRP series keep their labels (a renamed instance starts no new series); the
    instance name is joined on from lvsmon_vrrp_view_info, for views and routers alike."""
    got = samples(render(keepalived_state(tmp_path)))
    view = "family=inet,interface=eth0,vrid=51"
    assert got["lvsmon_vrrp_view_info{family=inet,interface=eth0,keepalived_instance=VI_WEB,"
               "vrid=51}"] == 1
    assert got["lvsmon_vrrp_view_info{family=inet,interface=eth0,keepalived_instance=VI_DOWN,"
               "vrid=53}"] == 1
    assert not [key for key in got if key.startswith("lvsmon_vrrp_view_info{family=inet6")]
    assert not [key for key in got if "keepalived_instance" in key
                and key.startswith(("lvsmon_vrrp_masters", "lvsmon_vrrp_router_"))]
    assert got[f"lvsmon_vrrp_masters{{{view}}}"] == 2
    assert got[f"lvsmon_vrrp_router_priority{{family=inet,interface=eth0,router={A},vrid=51}}"] \
        == 150
    # The config_* anomalies exist only where keepalived.conf configures the VRID.
    assert got[f"lvsmon_vrrp_anomaly{{anomaly=config_priority,{view}}}"] == 0
    assert "lvsmon_vrrp_anomaly{anomaly=config_priority,family=inet6,interface=eth0,vrid=52}" \
        not in got
    assert got["lvsmon_vrrp_routers{family=inet,interface=eth0,vrid=53}"] == 0


def test_configured_instances_and_this_nodes_state(tmp_path):
    got = samples(render(keepalived_state(tmp_path)))
    assert got["lvsmon_keepalived_instance_configured_priority{keepalived_instance=VI_WEB}"] \
        == 150
    # keepalived's default version is 2 (vrrp_version in global_defs).
    assert got["lvsmon_keepalived_instance_info{family=inet,interface=eth0,keepalived_instance="
               "VI_WEB,version=2,vips=10.0.0.100,vrid=51}"] == 1
    states = {(name, own): got[f"lvsmon_keepalived_instance_state{{keepalived_instance={name},"
                                f"state={own}}}"]
              for name in ("VI_WEB", "VI_DOWN") for own in ("master", "backup", "fault")}
    assert states == {("VI_WEB", "master"): 1, ("VI_WEB", "backup"): 0, ("VI_WEB", "fault"): 0,
                      ("VI_DOWN", "master"): 0, ("VI_DOWN", "backup"): 0,
                      ("VI_DOWN", "fault"): 1}
    assert got["lvsmon_source_up{source=keepalived}"] == 1
    assert got["lvsmon_source_up{source=keepalived_diff}"] == 1


def test_drift_and_the_sorry_server_gauge(tmp_path):
    got = samples(render(keepalived_state(tmp_path)))
    web = "service=tcp:10.0.0.1:80"
    assert got[f"lvsmon_keepalived_sorry_server_active{{{web},sorry_server=10.0.9.9:80}}"] == 0
    assert got[f"lvsmon_keepalived_real_server_configured_weight{{real_server=10.0.1.2:80,"
               f"{web}}}"] == 5
    # table(): 10.0.1.2:80 at weight 3 (configured 5), 10.0.1.3:80 absent, the IPv6 one
    # not configured, tcp:10.0.0.2:443 missing, fwm:7 not configured.
    drift = {key.partition("{")[2].rstrip("}"): value for key, value in got.items()
             if key.startswith("lvsmon_keepalived_drift{")}
    assert drift == {
        f"kind=weight_changed,real_server=10.0.1.2:80,{web}": 1,
        f"kind=real_server_absent,real_server=10.0.1.3:80,{web}": 1,
        f"kind=real_server_unconfigured,real_server=[2001:db8::2]:80,{web}": 1,
        "kind=service_missing,service=tcp:10.0.0.2:443": 1,
        "kind=service_unconfigured,service=fwm:7": 1,
    }
    assert got["lvsmon_keepalived_drift_findings{kind=weight_changed}"] == 1
    assert got["lvsmon_keepalived_drift_findings{kind=sorry_server_serving}"] == 0


def test_the_sorry_server_serving(tmp_path):
    import dataclasses

    from lvsmon.keepalived.diff import compare

    daemon = keepalived_state(tmp_path)
    sorry_only = IpvsTable("netlink", 99.0, (VirtualService(
        ServiceKey("tcp", "inet", "10.0.0.1", 80), "wlc",
        real_servers=(RealServer("10.0.9.9", 80, "masq", 1, 4, 0),)),))
    diff = compare(daemon.keepalived.snapshot, sorry_only)
    got = samples(render(dataclasses.replace(
        daemon, keepalived_diff=SourceState(True).succeeded(diff, 99.0))))
    web = "service=tcp:10.0.0.1:80"
    assert got[f"lvsmon_keepalived_sorry_server_active{{{web},sorry_server=10.0.9.9:80}}"] == 1
    assert got["lvsmon_keepalived_drift_findings{kind=sorry_server_serving}"] == 1
    assert got["lvsmon_keepalived_drift_findings{kind=real_server_absent}"] == 2
    assert got[f"lvsmon_keepalived_drift{{kind=sorry_server_serving,real_server=10.0.9.9:80,"
               f"{web}}}"] == 1


def test_keepalived_families_pass_promtool(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    text = render(keepalived_state(tmp_path))
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_drain_guard():
    drain = HeldDrain("tcp:10.0.0.1:80", "10.0.1.2:80", 100, "2026-01-01T00:00:00+00:00", 0,
                      reasserted=2, last_reasserted_at=99.0, restored_weight=100)
    guard = DrainGuardSnapshot("/var/lib/lvsmon", 0.2, (drain,), checks=50, reasserted_total=3,
                               checked_at=100.0, problems=("entry 'x': bad",))
    daemon_state = DaemonState(state().daemon, drains=SourceState(True).succeeded(guard, 100.0))
    got = samples(render(daemon_state))
    labels = "real_server=10.0.1.2:80,service=tcp:10.0.0.1:80"
    assert got[f"lvsmon_drain_held{{{labels}}}"] == 1
    assert got[f"lvsmon_drain_saved_weight{{{labels}}}"] == 100
    assert got[f"lvsmon_drain_reassertions_total{{{labels}}}"] == 2
    assert got["lvsmon_drain_guard_reassertions_total{}"] == 3
    assert got["lvsmon_drain_state_problems{}"] == 1
    assert got["lvsmon_source_up{source=drains}"] == 1
    assert b"lvsmon_drain" not in render(state())  # no guard, no series
    if shutil.which("promtool"):
        done = subprocess.run(["promtool", "check", "metrics"], input=render(daemon_state),
                              capture_output=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    parsed = {f.name for f in openmetrics_families(render(daemon_state, True).decode())}
    assert {"lvsmon_drain_held", "lvsmon_drain_reassertions"} <= parsed
