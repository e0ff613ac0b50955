"""check_vrrp against `lvsmon run` beside a real keepalived pair, directly and through NRPE.

Namespaces a (keepalived, VRID 51 priority 150 and VRID 71 priority 200) and b (keepalived,
VRID 51 priority 100) share a segment with d, where the daemon runs: its observer listens
on eth0, and its participant instance web71 (VRID 71, priority 100) is backup to a. All
adverts every second, as keepalived's default. The check runs as a process each time, as
nrpe runs it; each output is judged by tests/plugin_output.py.

1. Healthy: OK; --expect-master and --instance/--expect-state; the shipped NRPE line
   answers as the check run directly as nagios.
2. Split brain (nftables drops VRRP between a and b): CRITICAL, also over NRPE; lifted: OK.
3. a killed hard: the check, run back to back through the whole failover, is never
   CRITICAL; OK once b (VRID 51) and web71 (VRID 71) took over; a's expectation WARNING.
4. Flapping (another pair; a stopped and started until the daemon reports it): WARNING;
   the flap ranges replace the daemon's threshold.
"""

from __future__ import annotations

import grp
import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.lab import nrpe
from tests.lab.firewall import block_vrrp, link_local, unblock_vrrp
from tests.lab.keepalived import keepalived_conf, kill_hard, spawn_keepalived, vrrp_instance
from tests.lab.vrrp_participant import participant_toml
from tests.plugin_output import PluginRun, judged, run_plugin

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
A4, B4, D4 = "10.34.0.11", "10.34.0.12", "10.34.0.30"
VIP51, VIP71 = "10.34.0.100/24", "10.34.0.171/24"
SHIPPED_SOCKET = "/run/lvsmon/status.sock"
LOOPBACK = "127.0.0.1"
# How long a problem has lasted, as the check words it.
LASTING = re.compile(r"for [0-9.]+ s|for \d+ min \d+ s|for \d+ h \d+ min")


def node_conf(node: str, priority: int, with_71: bool) -> str:
    instances = [vrrp_instance("V51", vrid=51, priority=priority, vips=[VIP51])]
    if with_71:
        instances.append(vrrp_instance("V71", vrid=71, priority=200, vips=[VIP71]))
    return keepalived_conf(node, instances)


def start_daemon(lab, d, observer: str = "", instances: list[dict] = (),
                 for_nrpe: bool = False) -> str:
    """`lvsmon run` in d; its status socket. for_nrpe: in a directory group nagios may enter
    (as systemd's RuntimeDirectory with Group=lvsmon does, for nrpe's user in that group)."""
    run_dir = lab.tmpdir / "run"
    run_dir.mkdir()
    if for_nrpe:
        os.chown(run_dir, 0, grp.getgrnam(nrpe.USER).gr_gid)
        run_dir.chmod(0o2750)  # setgid: the socket's group is the directory's
    sock = str(run_dir / "status.sock")
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(f'[daemon]\nstatus_socket = "{sock}"\n'
                      f'[observer]\ninterfaces = ["eth0"]\n{observer}'
                      "[ipvs]\nenabled = false\n" + participant_toml(list(instances)))
    daemon = d.spawn([sys.executable, "-m", "lvsmon", "run", "--config", config],
                     name="lvsmon-run", env={"PYTHONPATH": REPO})
    lab.wait_for(lambda: os.path.exists(sock) or daemon.check_running(), 15,
                 what="the daemon's status socket")
    return sock


def check_vrrp(sock: str, *argv: str) -> PluginRun:
    return run_plugin([sys.executable, "-m", "lvsmon_nagios.check_vrrp", "--socket", sock,
                       *argv])


def until(lab, sock: str, argv: tuple[str, ...], wanted, timeout: float, what: str) -> PluginRun:
    """Run the check until wanted(run) holds; that run."""
    return lab.wait_for(lambda: (run := check_vrrp(sock, *argv)) and wanted(run) and run,
                        timeout, what=what)


def over_nrpe_as_directly(ns, argv: list[str]) -> str:
    """check_nrpe's answer is the check's run directly as nrpe's user: the same exit code,
    status line and perfdata labels. How long a problem has lasted ("for 4.8 s") moves on
    between the two runs, so it is compared as "for N s"."""
    direct = run_plugin(ns.exec_argv(nrpe.as_user(argv)), cwd="/")
    code, out = nrpe.check_nrpe(ns, LOOPBACK, "check_vrrp")
    over_nrpe = judged(code, out)
    assert (code, LASTING.sub("for N s", over_nrpe.status_line)) == (
        direct.code, LASTING.sub("for N s", direct.status_line)), (out, direct.stdout)
    assert over_nrpe.perfdata.keys() == direct.output.perfdata.keys()
    return direct.status_line


def masters(run: PluginRun, vrid: int) -> float:
    return run.output.perfdata[f"eth0 inet VRID {vrid} masters"].value


def ok_with(*phrases: str):
    return lambda run: run.code == 0 and all(phrase in run.status_line for phrase in phrases)


@pytest.mark.skipif(nrpe.missing() is not None, reason=str(nrpe.missing()))
def test_check_vrrp_with_a_keepalived_pair(lab):
    segment = lab.segment("vrrp")
    a, b, d = lab.namespace("a"), lab.namespace("b"), lab.namespace("d")
    for namespace, address in ((a, A4), (b, B4), (d, D4)):
        segment.attach(namespace, [f"{address}/24"])
    home = nrpe.user_dir(lab)  # lab.tmpdir becomes passable for nagios
    sock = start_daemon(lab, d, for_nrpe=True, instances=[{
        "name": "web71", "interface": "eth0", "vrid": 71, "priority": 100, "vips": [VIP71]}])
    seen = []

    # web71 alone on VRID 71 becomes master; then b alone on VRID 51; then a preempts both.
    run = until(lab, sock, ("--instance", "web71", "--expect-state", "master"),
                ok_with(f"eth0 inet VRID 71: master {D4}", "instance web71 MASTER"), 20,
                "web71 master")
    seen.append(run.status_line)
    spawn_keepalived(lab, b, node_conf("node-b", 100, with_71=False))
    until(lab, sock, (), ok_with(f"eth0 inet VRID 51: master {B4}"), 20, "b master of 51")
    ka_a = spawn_keepalived(lab, a, node_conf("node-a", 150, with_71=True))

    # 1. Healthy: a is master of both VRIDs. Right after a preemption the old master counts
    #    as advertising until its Master_Down_Interval passes: two masters, still OK.
    preempted = ok_with(f"eth0 inet VRID 51: master {A4} (priority 150)",
                        f"eth0 inet VRID 71: master {A4} (priority 200)")
    run = until(lab, sock, (), lambda run: preempted(run) and masters(run, 51) == masters(
        run, 71) == 1, 30, "OK with a the one master of VRIDs 51 and 71")
    seen.append(run.status_line)
    perf = run.output.perfdata
    assert perf["eth0 inet VRID 51 master_changes"].value == 1  # a preempted b
    assert perf["eth0 inet VRID 71 routers"].value == 2
    assert perf["segments"].value == 2
    run = check_vrrp(sock, "--vrid", "51", "--expect-master", A4)
    assert run.code == 0, run.stdout
    run = check_vrrp(sock, "--vrid", "51", "--expect-master", B4)
    assert run.code == 1 and run.output.summary == (f"eth0 inet VRID 51: master is {A4}, not "
                                                    f"{B4} as expected"), run.stdout
    run = until(lab, sock, ("--instance", "web71", "--expect-state", "backup"),
                ok_with("instance web71 BACKUP, priority 100"), 10, "web71 backup")
    assert run.output.perfdata["instance web71 state"].value == 1
    assert run.output.perfdata["segments"].value == 1  # its own segment only
    run = check_vrrp(sock, "--instance", "web71", "--expect-state", "master")
    assert (run.code, run.output.summary) == (1, "instance web71 is BACKUP, expected MASTER")
    seen.append(run.status_line)

    # The shipped NRPE line, with this lab's paths, as nrpe's user.
    program = nrpe.plugin_program(home, "check_vrrp")
    commands = nrpe.shipped_commands({"/usr/bin/check_vrrp": str(program),
                                      SHIPPED_SOCKET: sock}, names=("check_vrrp",))
    nrpe.start_nrpe(lab, d, home, commands, LOOPBACK)
    argv = commands["check_vrrp"].split()
    line = over_nrpe_as_directly(d, argv)
    assert line.startswith("VRRP OK - eth0 inet VRID 51: master "), line

    # 2. Split brain: a and b stop hearing each other, and both advertise.
    block_vrrp(a, B4, link_local(b))
    block_vrrp(b, A4, link_local(a))
    run = until(lab, sock, (), lambda run: run.code == 2, 20, "CRITICAL for split brain")
    assert run.output.summary.startswith("eth0 inet VRID 51: split brain for "), run.stdout
    assert run.output.summary.endswith(f"(2 routers advertising at once: {A4}, {B4})")
    assert masters(run, 51) == 2
    seen.append(run.status_line)
    line = over_nrpe_as_directly(d, argv)
    assert line.startswith("VRRP CRITICAL - eth0 inet VRID 51: split brain for "), line
    unblock_vrrp(a)
    unblock_vrrp(b)
    run = until(lab, sock, (), ok_with(f"VRID 51: master {A4}"), 20, "OK once lifted")
    seen.append(run.status_line)

    # 3. a crashes: b takes VRID 51 and web71 VRID 71. Polled back to back meanwhile.
    runs = []
    killed = time.monotonic()
    kill_hard(ka_a)
    while time.monotonic() - killed < 60:
        run = check_vrrp(sock)
        runs.append((round(time.monotonic() - killed, 2), run.code, masters(run, 51)))
        assert run.code != 2, (runs, run.stdout)
        if ok_with(f"VRID 51: master {B4}", f"VRID 71: master {D4}")(run) and \
                time.monotonic() - killed > 8:  # past the slowest backup's wait, and more
            break
    else:
        raise AssertionError(f"no convergence in 60 s: {runs}")
    print(f"failover polled {len(runs)} times (s after the kill, exit code, VRID 51 masters): "
          f"{runs}")
    assert {code for _, code, _ in runs} == {0}, runs  # not even a WARNING
    assert len(runs) >= 3, runs
    assert run.output.perfdata["eth0 inet VRID 51 master_changes"].value == 2  # and a->b
    seen.append(run.status_line)
    run = check_vrrp(sock, "--vrid", "51", "--expect-master", A4)
    assert (run.code, run.output.summary) == (
        1, f"eth0 inet VRID 51: master is {B4}, not {A4} as expected")
    run = until(lab, sock, ("--instance", "web71", "--expect-state", "master"),
                ok_with("instance web71 MASTER"), 10, "web71 master")
    assert run.output.perfdata["instance web71 state"].value == 2
    seen.append(run.status_line)
    print("check_vrrp said:\n  " + "\n  ".join(seen))


def test_check_vrrp_warns_on_flapping(lab):
    segment = lab.segment("vrrp")
    a, b, d = lab.namespace("a"), lab.namespace("b"), lab.namespace("d")
    for namespace, address in ((a, A4), (b, B4), (d, D4)):
        segment.attach(namespace, [f"{address}/24"])
    sock = start_daemon(lab, d, observer="flap_threshold = 2\nflap_window = 120\n")
    spawn_keepalived(lab, b, node_conf("node-b", 100, with_71=False))
    until(lab, sock, (), ok_with(f"VRID 51: master {B4}"), 20, "b master")

    # a comes and goes (SIGTERM: priority 0, b answers at once); each round two changes.
    # The master is read from the long output: once flapping, the status line names that.
    def master_is(address: str):
        return lambda run: any(line.startswith(f"eth0 inet VRID 51: master {address} since")
                               for line in run.output.long_text)

    rounds = 0
    while True:
        ka_a = spawn_keepalived(lab, a, node_conf("node-a", 150, with_71=False),
                                name=f"keepalived-a{rounds}")
        until(lab, sock, ("-v",), master_is(A4), 20, "a master")
        ka_a.stop()
        run = until(lab, sock, ("-v",), master_is(B4), 20, "b master again")
        rounds += 1
        if run.code == 1 or rounds == 4:
            break
    assert run.code == 1, run.stdout
    assert run.output.summary.startswith("eth0 inet VRID 51: flapping for "), run.stdout
    assert run.output.summary.endswith("(more than 2 master changes in 120 s)")
    changes = run.output.perfdata["eth0 inet VRID 51 recent_master_changes"].value
    assert changes >= 3
    print(f"after {rounds} rounds: {run.status_line}")

    # The check's own ranges replace the daemon's threshold.
    run = check_vrrp(sock, "--flap-warning", "20", "--flap-window", "600")
    assert run.code == 0, run.stdout
    run = check_vrrp(sock, "-w", "1", "-c", "2", "--flap-window", "600")
    assert run.code == 2, run.stdout
    assert run.output.summary.startswith("eth0 inet VRID 51: ")
    assert " master changes in the last 600 s (more than 2)" in run.output.summary
