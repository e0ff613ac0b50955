"""`lvsmon run` reloads its configuration on SIGHUP without disturbing what did not change.

Namespace d runs the daemon: its observer on eth0 and a participant instance web61 (VRID 61,
priority 200), master over keepalived in b (priority 100). Namespace o watches the segment
with the observer library (tests.lab.vrrp_probe): an independent witness of every advert.

1. SIGHUP with other settings changed: web61 keeps advertising as master (no priority 0, no
   new master, b never advertises), and the daemon's observer keeps its history.
2. SIGHUP with a broken file: refused with the reason logged; everything keeps running.
3. SIGHUP with web61's priority lowered to 90: it is stopped cleanly (priority 0, so b takes
   over at once) and comes back as backup with its new priority.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lvsmon.model.codec import from_json
from lvsmon.model.daemon import DaemonState
from tests.lab.keepalived import keepalived_conf, spawn_keepalived, vrrp_instance
from tests.lab.vrrp_participant import participant_toml
from tests.lab.vrrp_probe import Probe, history, masters_are, router

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
B4, D4, O4 = "10.33.0.12", "10.33.0.30", "10.33.0.40"
VIP = "10.33.0.161/24"


def daemon_toml(sock: str, priority: int, ipvs_interval: float, flap_threshold: int) -> str:
    return (
        f'[daemon]\nstatus_socket = "{sock}"\n'
        f'[observer]\ninterfaces = ["eth0"]\nflap_threshold = {flap_threshold}\n'
        f"[ipvs]\ninterval = {ipvs_interval}\n"
        + participant_toml([{"name": "web61", "interface": "eth0", "vrid": 61,
                             "priority": priority, "advert_interval": 0.5, "vips": [VIP]}])
    )  # fmt: skip


def test_sighup_keeps_unchanged_instances_and_refuses_a_broken_file(lab):
    segment = lab.segment("vrrp")
    b, d, o = lab.namespace("b"), lab.namespace("d"), lab.namespace("o")
    for namespace, address in ((b, B4), (d, D4), (o, O4)):
        segment.attach(namespace, [f"{address}/24"])
    sock = str(lab.tmpdir / "status.sock")
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(daemon_toml(sock, 200, 1, 3))
    probe = Probe(lab, o)
    spawn_keepalived(lab, b, keepalived_conf("node-b", [
        vrrp_instance("V61", vrid=61, priority=100, version=3, advert_int=0.5, vips=[VIP]),
    ]))  # fmt: skip
    daemon = d.spawn([sys.executable, "-m", "lvsmon", "run", "--config", config],
                     name="lvsmon-run", env={"PYTHONPATH": REPO})  # fmt: skip

    def state() -> DaemonState:
        if not daemon.alive:
            raise AssertionError(daemon.describe())
        done = subprocess.run(
            [sys.executable, "-m", "lvsmon", "status", "--json", "--socket", sock],
            capture_output=True, text=True, timeout=20, check=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        return from_json(DaemonState, json.loads(done.stdout))

    def web61():
        (instance,) = state().participant.snapshot.instances
        return instance

    probe.wait(masters_are({61: D4}), 20, "the participant master of VRID 61")
    lab.wait_for(lambda: web61().state == "MASTER", 10, what="web61 MASTER in the daemon")
    lab.wait_for(lambda: state().vrrp.snapshot.segment("eth0", "inet", 61), 10,
                 what="the daemon's observer hearing VRID 61")  # fmt: skip
    before = web61()
    seen_before = state().vrrp.snapshot.segment("eth0", "inet", 61)
    witness_before = probe.segments()[61]

    def b_adverts(view: dict) -> int:  # b was master before the daemon came, maybe
        return (router(view, B4) or {"adverts": 0})["adverts"]

    def reloaded(count: int) -> bool:
        return daemon.log().count("reload: done") >= count

    def adverts_from_d_after(adverts: int, more: int = 8):
        return lambda segments: router(segments[61], D4)["adverts"] >= adverts + more

    # 1. Other settings change; web61's do not.
    config.write_text(daemon_toml(sock, 200, 2, 5))
    daemon.send_signal(signal.SIGHUP)
    lab.wait_for(lambda: reloaded(1), 10, what="the first reload")
    adverts = router(probe.segments()[61], D4)["adverts"]
    witness = probe.wait(adverts_from_d_after(adverts), 15, "adverts from d after the reload")[61]
    assert witness["master"] == D4 and router(witness, D4)["priority"] == 200
    assert witness["master_changes"] == witness_before["master_changes"]
    assert history(witness, "graceful_release") == [], witness
    assert b_adverts(witness) == b_adverts(witness_before), "b advertised: an election"
    after = web61()
    assert (after.state, after.since, after.transitions) == ("MASTER", before.since,
                                                             before.transitions)
    assert d.has_address(VIP.split("/")[0])
    seen = state().vrrp.snapshot.segment("eth0", "inet", 61)
    assert seen.router(D4).first_seen == seen_before.router(D4).first_seen  # history kept
    assert seen.router(D4).adverts > seen_before.router(D4).adverts

    # 2. A broken file is refused; the daemon goes on with the old one.
    config.write_text(daemon_toml(sock, 200, 2, 5).replace("interval = 2", 'interval = "x"'))
    daemon.send_signal(signal.SIGHUP)
    lab.wait_for(lambda: "reload refused" in daemon.log(), 10, what="the refusal")
    assert "interval" in daemon.log().split("reload refused")[1].splitlines()[0]
    adverts = router(probe.segments()[61], D4)["adverts"]
    probe.wait(adverts_from_d_after(adverts), 15, "adverts from d after the refusal")
    assert web61().state == "MASTER" and web61().transitions == before.transitions

    # 3. web61's priority changes: stopped cleanly (priority 0), back as backup.
    config.write_text(daemon_toml(sock, 90, 2, 5))
    daemon.send_signal(signal.SIGHUP)
    witness = probe.wait(masters_are({61: B4}), 15, "b master after web61 changed")[61]
    assert history(witness, "graceful_release"), witness  # d's priority 0 advert
    lab.wait_for(lambda: (i := web61()).state == "BACKUP" and i.base_priority == 90, 10,
                 what="web61 back as backup with priority 90")  # fmt: skip
    lab.wait_for(lambda: not d.has_address(VIP.split("/")[0]), 5, what="the VIP gone from d")

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.describe()
    assert "Traceback" not in daemon.log(), daemon.log()
    print(daemon.log()[-2000:])
