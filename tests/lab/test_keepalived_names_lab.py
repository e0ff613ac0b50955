"""`lvsmon run` reading this node's keepalived.conf ([keepalived] config), beside a real pair.

Namespaces a and b share a segment; each runs keepalived with instance VI_51 (VRID 51,
VRRPv3, adverts every second): a at priority 150, b at 100. The daemon runs in a, so a's
router is "this node"; it reads a copy of a's keepalived.conf in a directory of its own (the
file lvsmon reads; keepalived a reads another copy, so that a can run at a priority the
file lvsmon reads does not say). It serves its status socket, and metrics on a:PORT.

1. Names: the VRID carries VI_51 in the daemon's state, `lvsmon status` and the exporter;
   this node's instance is backup while b alone runs, master once a preempts it (from the
   wire alone, keepalived's SNMP is off);
   configured (150) and heard priorities side by side; no config_* anomaly.
2. keepalived a restarted at priority 120, the file lvsmon reads unchanged: config_priority
   on VRID 51 ("configured 150, heard 120 from a"), in the state, `lvsmon status`, the
   exporter and check_vrrp (WARNING, named VI_51).
3. The file lvsmon reads changed to 120: read again within a poll, the anomaly ends.
4. The file changed back to 150 with its size, inode and modification time kept, so that
   the poll cannot see it: still 120; SIGHUP: 150 read, config_priority again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lvsmon.status_client import ask_state
from tests.lab.errors import WaitTimeout
from tests.lab.keepalived import keepalived_conf, spawn_keepalived, vrrp_instance
from tests.plugin_output import run_plugin

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
A4, B4 = "10.37.0.11", "10.37.0.12"
VIP = "10.37.0.100/24"
PORT = 10573
INSTANCE = "VI_51"


def node_conf(node: str, priority: int) -> str:
    return keepalived_conf(node, [vrrp_instance(INSTANCE, vrid=51, priority=priority,
                                                vips=[VIP])])


def start_daemon(lab, a, keepalived_path: Path) -> str:
    sock = str(lab.tmpdir / "status.sock")
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(f'[daemon]\nstatus_socket = "{sock}"\n'
                      '[observer]\ninterfaces = ["eth0"]\n'
                      "[ipvs]\nenabled = false\n"
                      f'[exporter]\nlisten = ["{A4}:{PORT}"]\n'
                      f'[keepalived]\nconfig = "{keepalived_path}"\nid = "node-a"\n')
    daemon = a.spawn([sys.executable, "-m", "lvsmon", "run", "--config", config],
                     name="lvsmon-run", env={"PYTHONPATH": REPO})
    lab.wait_for(lambda: os.path.exists(sock) or daemon.check_running(), 15,
                 what="the daemon's status socket")
    return sock


def view_51(sock: str):
    """The daemon's view of VRID 51 on eth0, or None."""
    snapshot = ask_state(sock).vrrp.snapshot
    if snapshot is None:
        return None
    return next((v for v in snapshot.segments if (v.interface, v.vrid) == ("eth0", 51)), None)


def until_view(lab, sock: str, wanted, timeout: float, what: str):
    """Wait until the view of VRID 51 is `wanted`; that view (the last one in the error)."""
    last = []

    def ready():
        view = view_51(sock)
        last[:] = [view]
        return view is not None and wanted(view) and view

    try:
        return lab.wait_for(ready, timeout, what=what)
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}\nlast view: {last}") from None


def status_text(sock: str) -> str:
    return subprocess.run([sys.executable, "-m", "lvsmon", "status", "--socket", sock],
                          capture_output=True, text=True, timeout=30, check=True,
                          cwd=REPO).stdout


def scrape(a) -> dict[str, float]:
    fetch = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
             "sys.argv[1], timeout=20).read().decode())")
    text = a.run([sys.executable, "-c", fetch, f"http://{A4}:{PORT}/metrics"]).stdout
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if v)
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def check_vrrp(sock: str):
    return run_plugin([sys.executable, "-m", "lvsmon_nagios.check_vrrp", "--socket", sock],
                      cwd=REPO)


def heard(view, address: str):
    return next((r for r in view.routers if r.address == address), None)


def config_priority(view):
    return next((x for x in view.active_anomalies if x.name == "config_priority"), None)


VIEW = "family=inet,interface=eth0,vrid=51"  # the name is joined on: lvsmon_vrrp_view_info


def test_names_configured_versus_heard_and_a_priority_the_file_does_not_say(lab):
    segment = lab.segment("vrrp")
    a, b = lab.namespace("a"), lab.namespace("b")
    for namespace, address in ((a, A4), (b, B4)):
        segment.attach(namespace, [f"{address}/24"])
    read_dir = lab.tmpdir / "lvsmon-reads"  # its own directory: nothing else changes it
    read_dir.mkdir()
    read = read_dir / "keepalived.conf"
    read.write_text(node_conf("node-a", 150))
    sock = start_daemon(lab, a, read)
    spawn_keepalived(lab, b, node_conf("node-b", 100))

    # 1. Names, this node's state, configured and heard. b alone: this node is backup.
    view = until_view(lab, sock, lambda v: v.master == B4 and v.own_state == "backup", 30,
                      "b master, this node backup")
    assert view.keepalived_instance == INSTANCE and not heard(view, B4).this_node
    ka_a = spawn_keepalived(lab, a, node_conf("node-a", 150))
    view = until_view(lab, sock, lambda v: v.own_state == "master" and v.master == A4
                      and heard(v, B4) is not None, 30, "a master, b heard, VI_51 named")
    assert view.keepalived_instance == INSTANCE
    assert view.configured.priority == 150 and heard(view, A4).priority == 150
    assert heard(view, A4).this_node and not heard(view, B4).this_node
    assert not [x for x in view.active_anomalies if x.name.startswith("config_")], view
    text = status_text(sock)
    assert (f"eth0 inet VRID 51 ({INSTANCE}, this node master, configured priority 150): "
            f"master {A4}; routers ") in text, text
    assert f"{A4} p150 (this node)" in text and f"{B4} p100" in text, text
    assert f"keepalived.conf: {read} (1 file, config id node-a): 1 VRRP instances" in text
    named = (f"lvsmon_vrrp_view_info{{family=inet,interface=eth0,keepalived_instance="
             f"{INSTANCE},vrid=51}}")
    got = lab.wait_for(lambda: (m := scrape(a)) and named in m and m, 15,
                       what="VI_51 in the exporter")
    assert got[named] == 1
    assert got[f"lvsmon_vrrp_router_priority{{family=inet,interface=eth0,router={A4},"
               "vrid=51}"] == 150
    assert got[f"lvsmon_keepalived_instance_configured_priority{{keepalived_instance="
               f"{INSTANCE}}}"] == 150
    assert got[f"lvsmon_keepalived_instance_state{{keepalived_instance={INSTANCE},"
               "state=master}"] == 1
    assert got[f"lvsmon_vrrp_anomaly{{anomaly=config_priority,{VIEW}}}"] == 0
    run = check_vrrp(sock)
    assert run.code == 0 and run.status_line.startswith(
        f"VRRP OK - eth0 inet VRID 51 ({INSTANCE}): master {A4} (priority 150)"), run.stdout

    # 2. keepalived a back at priority 120; the file lvsmon reads still says 150.
    ka_a.stop()  # priority 0: b takes over at once
    spawn_keepalived(lab, a, node_conf("node-a", 120), name="keepalived-a-120")
    view = until_view(lab, sock, lambda v: config_priority(v) is not None and v.master == A4,
                      30, "config_priority while a advertises 120")
    assert config_priority(view).detail == f"configured 150, heard 120 from {A4}"
    assert config_priority(view).routers == (A4,)
    assert heard(view, A4).priority == 120 and view.own_state == "master"
    assert "anomalies config_priority" in status_text(sock)
    got = scrape(a)
    assert got[f"lvsmon_vrrp_anomaly{{anomaly=config_priority,{VIEW}}}"] == 1
    run = check_vrrp(sock)
    assert run.code == 1, run.stdout
    assert run.output.summary.startswith(
        f"eth0 inet VRID 51 ({INSTANCE}): priority not as in keepalived.conf for "), run.stdout
    assert run.output.summary.endswith(f"(configured 150, heard 120 from {A4})"), run.stdout

    # 3. The file says 120 now: read again within a poll; the anomaly ends.
    read.write_text(node_conf("node-a", 120))
    view = until_view(lab, sock, lambda v: v.configured.priority == 120
                      and config_priority(v) is None, 20, "the file read again, anomaly ended")
    assert check_vrrp(sock).code == 0

    # 4. Back to 150 where the poll cannot see it (same size, inode and times): SIGHUP.
    before = read.stat()
    with open(read, "r+") as handle:  # in place: the same inode, the directory untouched
        handle.write(node_conf("node-a", 150))
    os.utime(read, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = read.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    assert view_51(sock).configured.priority == 120  # unseen by the poll
    lab.process("lvsmon-run").send_signal(signal.SIGHUP)
    view = until_view(lab, sock, lambda v: v.configured.priority == 150
                      and config_priority(v) is not None, 20, "re-read on SIGHUP")
    assert config_priority(view).detail == f"configured 150, heard 120 from {A4}"
