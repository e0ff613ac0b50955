"""The lab itself, against the real kernel and real daemons (run as root)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.lab import CommandError, Lab, WaitTimeout, wait_for
from tests.lab.naming import is_running
from tests.lab.netns import pids_in_namespace

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def netns_names() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def root_links(kind: str) -> set[str]:
    """Names of the root namespace's links of one kind (veth, bridge)."""
    out = subprocess.run(["ip", "-j", "link", "show", "type", kind], check=True,
                         capture_output=True, text=True).stdout
    return {link["ifname"] for link in json.loads(out or "[]")}


def dead_pid() -> int:
    """A pid that belonged to a process that is now gone (and reaped)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


# -- links --------------------------------------------------------------------

def test_veth_pair_pings_ipv4_and_ipv6(lab):
    left, right = lab.namespace("left"), lab.namespace("right")
    veth = lab.veth(left, right, ["10.10.1.1/24", "fd00:1::1/64"],
                    ["10.10.1.2/24", "fd00:1::2/64"])

    assert (veth.a_ifname, veth.b_ifname) == ("to-right", "to-left")
    left.ping("10.10.1.2")
    left.ping("fd00:1::2")
    right.ping("10.10.1.1")
    right.ping("fd00:1::1")


def test_three_namespaces_on_a_segment_reach_each_other(lab):
    segment = lab.segment("lan0")
    hosts = {}
    for number, name in enumerate(("a", "b", "c"), start=11):
        hosts[name] = lab.namespace(name)
        assert segment.attach(hosts[name], f"10.20.0.{number}/24") == "eth0"

    for name, namespace in hosts.items():
        for number, other in enumerate(("a", "b", "c"), start=11):
            if other != name:
                namespace.ping(f"10.20.0.{number}")
    # The hub only switches: it holds the bridge and the ports, no addresses of its own.
    assert segment.hub.addresses("lan0") == []


def test_nothing_lands_in_the_root_namespace(lab):
    veths_before, bridges_before = root_links("veth"), root_links("bridge")
    a, b = lab.namespace("a"), lab.namespace("b")
    lab.veth(a, b, "10.10.1.1/24", "10.10.1.2/24")
    lab.segment("lan0").attach(a, "10.20.0.11/24")

    assert root_links("veth") == veths_before
    assert root_links("bridge") == bridges_before


def test_failed_command_raises_with_stderr(lab):
    namespace = lab.namespace("n")
    with pytest.raises(CommandError, match="nosuchdev"):
        namespace.run(["ip", "link", "show", "dev", "nosuchdev"])
    assert namespace.run(["false"], check=False).returncode == 1


# -- daemons ------------------------------------------------------------------

KEEPALIVED_CONF = """\
global_defs {{
    router_id {name}
    vrrp_version 2
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        10.20.0.100/24 dev eth0
    }}
}}
"""
VIP = "10.20.0.100"


def start_keepalived(lab, namespace, priority: int):
    name = namespace.short
    conf = lab.tmpdir / f"{name}.conf"
    conf.write_text(KEEPALIVED_CONF.format(name=name, priority=priority))
    # Own pid files: a system keepalived (or a parallel lab) keeps its own.
    return namespace.spawn(
        ["keepalived", "-n", "-l", "-D", "-P", "-f", conf,
         "-p", lab.tmpdir / f"{name}.pid", "-r", lab.tmpdir / f"{name}-vrrp.pid"],
        name=f"keepalived-{name}")


def vip_holders(routers) -> list[str]:
    """Routers whose `ip -o addr` lists the VIP."""
    return [ns.short for ns in routers
            if f" {VIP}/" in ns.run(["ip", "-o", "addr", "show"]).stdout]


def test_keepalived_pair_elects_exactly_one_master(lab):
    segment = lab.segment("vrrp")
    high, low = lab.namespace("high"), lab.namespace("low")
    segment.attach(high, "10.20.0.11/24")
    segment.attach(low, "10.20.0.12/24")
    daemons = [start_keepalived(lab, high, 150), start_keepalived(lab, low, 100)]

    holders = lab.wait_for(lambda: vip_holders([high, low]), timeout=15, what="a VRRP master")
    assert holders == ["high"], "\n".join(d.describe() for d in daemons)
    # Let a few adverts go by: the election must stay put with one master only.
    time.sleep(2.5)
    assert vip_holders([high, low]) == ["high"]
    for daemon in daemons:
        daemon.check_running()
    masters = [d.name for d in daemons if "Entering MASTER STATE" in d.log()]
    assert masters == ["keepalived-high"], "\n".join(d.describe() for d in daemons)
    assert "Entering BACKUP STATE" in daemons[1].log()


SYS_DESCR_OID = "1.3.6.1.2.1.1.1.0"  # SNMPv2-MIB::sysDescr.0 (the MIB file is non-free in Debian)


def test_snmpd_in_a_namespace_answers_snmpget(lab):
    agent = lab.namespace("agent")
    conf = lab.tmpdir / "snmpd.conf"
    conf.write_text("rocommunity public 127.0.0.1\nsysDescr lvsmon lab agent\n")
    snmpd = agent.spawn(
        ["snmpd", "-f", "-Lo", "-C", "-c", conf, "-p", lab.tmpdir / "snmpd.pid",
         "udp:127.0.0.1:1161"],
        env={"SNMP_PERSISTENT_DIR": lab.tmpdir / "snmp", "MIBS": ""})

    def sys_descr() -> str:
        return agent.run(["snmpget", "-v2c", "-c", "public", "-t", "0.5", "-r", "0", "-Oqv",
                          "127.0.0.1:1161", SYS_DESCR_OID]).stdout.strip()

    assert lab.wait_for(sys_descr, timeout=10, what="snmpd answering") == '"lvsmon lab agent"'
    snmpd.check_running()


# -- cleanup ------------------------------------------------------------------

def test_exit_after_an_exception_removes_namespaces_and_processes(lab_required):
    with pytest.raises(RuntimeError, match="test body failed"), Lab() as lab:
        a, b = lab.namespace("a"), lab.namespace("b")
        lab.veth(a, b, "10.10.1.1/24", "10.10.1.2/24")
        lab.segment("lan0").attach(a)
        spawned = [
            a.spawn(["sleep", "300"]),
            # A daemon-like child in the same process group...
            b.spawn(["sh", "-c", "sleep 301 & exec sleep 302"]),
            # ...and one that left the group: only the namespace sweep finds it.
            b.spawn(["setsid", "sleep", "303"]),
        ]
        wait_for(lambda: len(pids_in_namespace(b.name)) >= 3, 5, what="3 processes in b")
        pids = {p.pid for p in spawned}
        for namespace in lab.namespaces.values():
            pids.update(pids_in_namespace(namespace.name))
        tmpdir, prefix = lab.tmpdir, lab.prefix
        raise RuntimeError("test body failed")

    assert len(pids) >= 4
    assert [pid for pid in pids if is_running(pid)] == []
    assert [name for name in netns_names() if name.startswith(prefix)] == []
    assert not tmpdir.exists()


def test_stale_leftovers_of_a_dead_run_are_removed(lab_required):
    prefix = f"lvsmt{dead_pid()}-"
    stale_ns = prefix + "stale"
    subprocess.run(["ip", "netns", "add", stale_ns], check=True)
    squatter = subprocess.Popen(["ip", "netns", "exec", stale_ns, "sleep", "300"],
                                start_new_session=True)
    stale_dir = Path(tempfile.mkdtemp(prefix=prefix))
    (stale_dir / "daemon.log").write_text("left behind\n")
    try:
        wait_for(lambda: pids_in_namespace(stale_ns), 5, what="squatter in the stale namespace")
        with Lab() as lab:
            assert stale_ns not in netns_names()
            assert not stale_dir.exists()
            assert squatter.wait(5) == -signal.SIGKILL
            assert lab.prefix != prefix
    finally:
        squatter.kill()
        squatter.wait()
        if stale_ns in netns_names():
            subprocess.run(["ip", "netns", "del", stale_ns], check=False)


KILLED_RUN = """\
import json, time
from tests.lab import Lab, wait_for
from tests.lab.netns import pids_in_namespace
lab = Lab().__enter__()
victim = lab.namespace("victim")
daemon = victim.spawn(["sh", "-c", "sleep 301 & exec sleep 302"])  # a daemon and its child
wait_for(lambda: len(pids_in_namespace(victim.name)) == 2, 5)
print(json.dumps([daemon.pid, pids_in_namespace(victim.name), victim.name, str(lab.tmpdir)]),
      flush=True)
time.sleep(300)
"""


def test_a_killed_run_leaves_nothing_behind(lab_required):
    run = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=REPO,
                           stdout=subprocess.PIPE, text=True)
    try:
        line = run.stdout.readline()
        assert line, f"child lab did not start (exit {run.poll()})"
        daemon_pid, pids, namespace, tmpdir = json.loads(line)
        assert daemon_pid in pids and len(pids) == 2
        assert namespace in netns_names() and os.path.isdir(tmpdir)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
        run.stdout.close()

    # PR_SET_PDEATHSIG kills the spawned process with the test process; the lab's
    # watchdog then kills the daemon's child and removes the namespace and temp dir.
    wait_for(lambda: not is_running(daemon_pid), 5, what=f"pid {daemon_pid} to die")
    wait_for(lambda: namespace not in netns_names(), 10, what=f"watchdog removing {namespace}")
    assert [pid for pid in pids if is_running(pid)] == []
    assert not os.path.exists(tmpdir)


def test_wait_for_reports_what_it_saw_last():
    with pytest.raises(WaitTimeout, match=r"the answer; last result: \[\]"):
        wait_for(lambda: [], timeout=0.2, what="the answer", interval=0.05)
    with pytest.raises(WaitTimeout, match=r"a number; last error: ValueError: .*'soon'"):
        wait_for(lambda: int("soon"), timeout=0.2, what="a number", interval=0.05)
    assert wait_for(lambda: "ready", timeout=0.2) == "ready"


def test_wait_for_timeout_shows_the_log_of_a_process_that_died(lab):
    namespace = lab.namespace("n")
    crashed = namespace.spawn(["sh", "-c", "echo config error on line 7 >&2; exit 3"],
                              name="crasher")
    assert crashed.wait(5) == 3
    assert "config error on line 7" in crashed.log()
    with pytest.raises(WaitTimeout, match=r"(?s)crasher.*exited 3.*config error on line 7"):
        lab.wait_for(lambda: False, timeout=0.2, what="the daemon to answer")
