"""`lvsmon run` as a real process next to a real keepalived pair, asked over its status socket.

Namespaces a (keepalived, priority 150) and b (keepalived, priority 100) share VRID 51
(VRRPv3, 0.5 s). The daemon runs in d: its observer listens on eth0, and it hosts a
participant for VRID 71 (priority 100) that a's keepalived (priority 200) preempts and
that takes over again when a dies. Everything is read back through the real CLI
(`lvsmon status --json`, `lvsmon vrrp status --daemon --json`) and the socket itself.
This kernel has no IPVS: the daemon must say so and keep answering.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import pytest

from lvsmon.model.codec import from_json
from lvsmon.model.daemon import DaemonState
from lvsmon.model.vrrp import InstanceSnapshot
from tests.lab.keepalived import keepalived_conf, kill_hard, spawn_keepalived, vrrp_instance
from tests.lab.vrrp_participant import participant_toml

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
A4, B4, D4 = "10.32.0.11", "10.32.0.12", "10.32.0.30"
VIP51, VIP71 = "10.32.0.100/24", "10.32.0.171/24"


def node_conf(node: str, priority: int, with_71: bool) -> str:
    instances = [vrrp_instance("V51", vrid=51, priority=priority, version=3, advert_int=0.5,
                               vips=[VIP51])]  # fmt: skip
    if with_71:
        instances.append(vrrp_instance("V71", vrid=71, priority=200, version=3, advert_int=0.5,
                                       vips=[VIP71]))  # fmt: skip
    return keepalived_conf(node, instances)


def cli(*args: str, check: bool = True):
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "lvsmon", *args], capture_output=True, text=True, timeout=20,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    if check:
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
    return done


def raw_request(path: str, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def test_daemon_with_keepalived_pair_and_participant(lab):
    segment = lab.segment("vrrp")
    a, b, d = lab.namespace("a"), lab.namespace("b"), lab.namespace("d")
    segment.attach(a, [f"{A4}/24"])
    segment.attach(b, [f"{B4}/24"])
    segment.attach(d, [f"{D4}/24"])
    sock = str(lab.tmpdir / "run" / "status.sock")
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(
        f'[daemon]\nstatus_socket = "{sock}"\n'
        '[observer]\ninterfaces = ["eth0"]\n'
        "[ipvs]\ninterval = 1\n"
        + participant_toml([{"name": "web71", "interface": "eth0", "vrid": 71, "priority": 100,
                             "advert_interval": 0.5, "vips": [VIP71]}])
    )  # fmt: skip
    figures = {}

    started = time.monotonic()
    daemon = d.spawn(
        [sys.executable, "-m", "lvsmon", "run", "--config", config],
        name="lvsmon-run", env={"PYTHONPATH": REPO},
    )  # fmt: skip
    lab.wait_for(lambda: os.path.exists(sock), 30, what="status socket")
    figures["socket up"] = time.monotonic() - started
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o750

    def status() -> DaemonState:
        if not daemon.alive:
            raise AssertionError(daemon.describe())
        return from_json(DaemonState, json.loads(cli("status", "--json", "--socket", sock).stdout))

    def instance71(state: DaemonState) -> InstanceSnapshot:
        (only,) = state.participant.snapshot.instances
        return only

    # Alone on VRID 71, the participant becomes master.
    lab.wait_for(lambda: instance71(status()).state == "MASTER", 20, what="web71 master")
    lab.wait_for(lambda: d.has_address("10.32.0.171"), 3, what="VIP71 on d")

    ka_b = spawn_keepalived(lab, b, node_conf("node-b", 100, with_71=False))
    ka_a = spawn_keepalived(lab, a, node_conf("node-a", 150, with_71=True))

    def masters(state: DaemonState) -> dict:
        return {view.vrid: view.master for view in state.vrrp.snapshot.segments}

    started = time.monotonic()

    def both_a():
        document = status()
        return document if masters(document) == {51: A4, 71: A4} else None

    document = lab.wait_for(both_a, 15, what="a master of 51 and 71 in the daemon's state")
    figures["a master"] = time.monotonic() - started
    views = {view.vrid: view for view in document.vrrp.snapshot.segments}
    priorities = {r.address: r.priority for r in views[51].routers}
    assert priorities.get(A4) == 150  # b shows up once it has been master (before a came)
    assert views[51].anomaly_names == ()
    assert document.vrrp.snapshot.interfaces == ("eth0",)

    # The participant was preempted: MASTER -> BACKUP is in the daemon's state events.
    web71 = lab.wait_for(
        lambda: (i := instance71(status())).state == "BACKUP" and i, 5, what="web71 backup"
    )
    transitions = [(e.old, e.new) for e in web71.events]
    assert ("BACKUP", "MASTER") in transitions and transitions[-1] == ("MASTER", "BACKUP")
    assert web71.master == A4 and web71.priority == 100
    assert web71.transitions == len(web71.events) and web71.adverts_sent > 0
    lab.wait_for(lambda: not d.has_address("10.32.0.171"), 3, what="VIP71 gone from d")

    # No IPVS in this kernel: reported with its reason, the rest keeps working.
    ipvs = document.ipvs
    assert ipvs.enabled and not ipvs.available
    assert "no IPVS in this kernel" in ipvs.error, ipvs
    assert ipvs.attempts >= 2  # retried every second

    # `lvsmon vrrp status --daemon` answers from the daemon, in the listening command's format.
    views = {v["vrid"]: v for v in json.loads(cli("vrrp", "status", "--daemon", "--json",
                                                   "--socket", sock).stdout)}  # fmt: skip
    assert views[51]["master"] == A4 and views[51]["interface"] == "eth0"
    assert {r["address"] for r in views[51]["routers"]} >= {A4}
    assert views[71]["master"] == A4
    text = cli("vrrp", "status", "--daemon", "--socket", sock).stdout
    assert f"eth0 v4 VRID 51: master {A4}" in text, text
    summary = cli("status", "--socket", sock).stdout
    assert "VRRP observer: 2 segments heard on eth0" in summary, summary
    assert "web71 (eth0 VRID 71): BACKUP" in summary, summary
    assert "IPVS: unavailable since" in summary and "no IPVS in this kernel" in summary
    print(text + summary)

    # Garbage on the socket: an error answer, and the daemon keeps running.
    assert raw_request(sock, b"garbage\n")["ok"] is False
    assert raw_request(sock, b"x" * 100_000)["ok"] is False
    assert raw_request(sock, b'{"get": "ipvs"}\n')["ok"] is True

    # The keepalived master dies: b takes VRID 51, the participant takes VRID 71.
    killed = time.monotonic()
    kill_hard(ka_a)
    # The observer's and the participant's snapshots are published each on its own 0.5 s
    # cadence, and the VIP is added by a worker thread: wait for all three.
    state = lab.wait_for(lambda: (s := status()) and masters(s) == {51: B4, 71: D4}
                         and instance71(s).state == "MASTER" and s, 20,
                         what="new masters in the daemon's state")  # fmt: skip
    figures["failover seen"] = time.monotonic() - killed
    web71 = instance71(state)
    assert [(e.old, e.new) for e in web71.events][-1] == ("BACKUP", "MASTER")
    lab.wait_for(lambda: d.has_address("10.32.0.171"), 3, what="VIP71 back on d")
    assert daemon.alive

    # SIGTERM: the participant releases (priority 0, VIP removed), the socket goes away.
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.describe()
    assert not d.has_address("10.32.0.171")
    assert not os.path.exists(sock)
    log = daemon.log()
    assert "releasing mastership" in log and "Traceback" not in log, log
    ka_b.stop()

    # No daemon: one line on stderr, non-zero exit.
    done = cli("status", "--socket", sock, check=False)
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr == (f"lvsmon: no lvsmon daemon at {sock}: start it with `lvsmon run`\n")
    print("figures (s):", {key: round(value, 2) for key, value in figures.items()})


def test_daemon_keeps_answering_when_every_source_fails(lab):
    """A namespace with loopback only: no interface to observe, the participant's interface
    is missing, no IPVS. Each is reported with its reason; the daemon answers and stops."""
    d = lab.namespace("d")
    sock = str(lab.tmpdir / "status.sock")
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(
        f'[daemon]\nstatus_socket = "{sock}"\n[ipvs]\ninterval = 0.5\n'
        + participant_toml([{"name": "gone", "interface": "eth0", "vrid": 9, "vips": [VIP71]}])
    )
    daemon = d.spawn(
        [sys.executable, "-m", "lvsmon", "run", "--config", config],
        name="lvsmon-run", env={"PYTHONPATH": REPO},
    )  # fmt: skip

    def state() -> DaemonState:
        return from_json(DaemonState, json.loads(cli("status", "--json", "--socket", sock).stdout))

    def all_failed():
        document = state()
        parts = [document.vrrp, document.participant, document.ipvs]
        return document if all(part.error for part in parts) else None

    document = lab.wait_for(all_failed, 10, what="three sources reported unavailable")
    assert "no interface to observe" in document.vrrp.error
    assert "eth0" in document.participant.error, document.participant
    assert "no IPVS in this kernel" in document.ipvs.error
    lab.wait_for(lambda: state().ipvs.attempts >= 3, 5, what="IPVS retried")
    summary = cli("status", "--socket", sock).stdout
    assert summary.count("unavailable since") == 3, summary
    assert raw_request(sock, b'{"get": "daemon"}\n')["ok"] is True
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.describe()
    assert "Traceback" not in daemon.log(), daemon.log()
    print(summary)
