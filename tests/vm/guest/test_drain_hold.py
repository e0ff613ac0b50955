"""A drain that keepalived keeps: `lvsmon drain` held at weight 0 by `lvsmon run`'s guard.

keepalived's checker (TCP_CHECK on each real server) manages tcp:10.100.0.8:80 in the
director; `lvsmon run` runs beside it with [keepalived] config. The drained real
server's service is stopped and started (its check fails and passes: keepalived removes
it and adds it back at its configured weight), keepalived is reloaded with a new weight
for it, and restarted; each time keepalived writes a weight, and the guard must set 0
again and count it. Real TCP connections through the VIP show which real server
answered: none reaches the drained one until `lvsmon undrain`, which gives it keepalived's
configured weight. ipvsadm is the independent witness of the weights.

Then the pair: a second director (its own namespace, its own IPVS table, keepalived and
daemon) drains the same real server; with no connections there, its drain returns at
once while the first director's waits for a held connection, and it holds through a
keepalived restart on that node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.vm.guest.keepalived_drain import (
    CONFIGURED,
    ENV,
    SERVICE,
    VIP,
    KeepalivedDirector,
    endpoint,
    prepare,
    start_real_server,
    stop_real_server,
)
from tests.vm.guest.topology import ipvs_topology

DRAINED = "rs1"
OTHER = "rs3"
CONNECTIONS = 20


@pytest.fixture(scope="module")
def topo():
    with ipvs_topology(traffic=False) as topology:
        prepare(topology)
        yield topology


@pytest.fixture(scope="module")
def director(topo):
    main = KeepalivedDirector(topo, topo.director, "main")
    main.start_keepalived()
    main.start_daemon()
    return main


def answers(topo) -> dict[str, int]:
    """CONNECTIONS new TCP connections through the VIP: {real server host: answers}."""
    return topo.send_tcp("drain", CONNECTIONS)


def held_at_zero(director, host: str, count: int) -> bool:
    """The guard has set `host` back to 0 `count` times and IPVS shows weight 0."""
    return (director.reasserted(host) >= count
            and director.weights().get(endpoint(host)) == 0)


def test_drain_holds_through_keepalived_until_undrain(topo, director):
    target = endpoint(DRAINED)
    assert director.weights() == {endpoint(h): w for h, w in CONFIGURED.items()}
    assert set(answers(topo)) == {DRAINED, OTHER}  # both serve before the drain

    drain = director.lvsmon("drain", SERVICE, target, "--timeout", "60")
    assert drain.returncode == 0, drain.stderr
    assert "held by the lvsmon daemon" in drain.stderr, drain.stderr
    assert f"drained {target} of {SERVICE}" in drain.stdout
    assert director.weights()[target] == 0
    assert answers(topo) == {OTHER: CONNECTIONS}
    count = director.reasserted(DRAINED)
    assert count == 0

    # The deploy: its service stops (check fails: keepalived removes it) and starts again
    # (check passes: keepalived adds it at weight 4); the guard sets 0 again.
    stop_real_server(topo, DRAINED)
    topo.lab.wait_for(lambda: target not in director.weights(), 60,
                      what="keepalived removing the failed real server")
    topo.lab.wait_for(lambda: director.guard().held(SERVICE, target).weight is None, 30,
                      what="the guard seeing it out of IPVS")
    start_real_server(topo, DRAINED)
    count += 1
    topo.lab.wait_for(lambda: held_at_zero(director, DRAINED, count), 60,
                      what="the guard undoing keepalived's weight after the check passed")
    held = director.guard().held(SERVICE, target)
    assert held.restored_weight == CONFIGURED[DRAINED]
    assert answers(topo) == {OTHER: CONNECTIONS}

    # A reload with a new weight for it (keepalived writes the new weight at once).
    director.write_conf({**CONFIGURED, DRAINED: 3})
    director.reload_keepalived()
    count += 1
    topo.lab.wait_for(lambda: held_at_zero(director, DRAINED, count), 60,
                      what="the guard undoing the weight of keepalived's reload")
    assert director.guard().held(SERVICE, target).restored_weight == 3
    assert answers(topo) == {OTHER: CONNECTIONS}

    # A restart: keepalived removes its virtual server and makes it again.
    director.stop_keepalived()
    director.start_keepalived()
    count += 1
    topo.lab.wait_for(lambda: held_at_zero(director, DRAINED, count), 60,
                      what="the guard undoing the weight of keepalived's restart")
    assert answers(topo) == {OTHER: CONNECTIONS}

    guard = director.guard()
    assert guard.reasserted_total == count
    text = subprocess.run(
        [sys.executable, "-m", "lvsmon", "status", "--socket", director.socket],
        capture_output=True, text=True, timeout=60, check=True, env={**os.environ, **ENV},
    ).stdout  # fmt: skip
    assert f"{SERVICE} {target}: weight 0 (saved {CONFIGURED[DRAINED]}" in text, text
    assert f"set to 0 {count} times" in text, text
    assert "drain guard: " in director.daemon.log()  # each re-assertion logged
    assert director.daemon.log().count(f"{target} of {SERVICE} had weight") == count

    # undrain: keepalived's weight as the daemon read the file (3 since the reload).
    topo.lab.wait_for(lambda: _configured_weight(director, target) == 3, 30,
                      what="the daemon reading the changed keepalived.conf")
    undrain = director.lvsmon("undrain", SERVICE, target)
    assert undrain.returncode == 0, undrain.stderr
    assert f"undrained {target} of {SERVICE}: weight 3 (keepalived.conf" in undrain.stdout
    assert director.weights()[target] == 3
    assert json.loads((director.state_dir / "drained.json").read_text()) == {}
    topo.lab.wait_for(lambda: director.guard().drains == (), 30, what="the guard letting go")
    assert director.weights()[target] == 3  # not set back to 0 any more
    assert set(answers(topo)) == {DRAINED, OTHER}  # new connections reach it again
    director.write_conf(CONFIGURED)
    director.reload_keepalived()
    topo.lab.wait_for(lambda: director.weights().get(target) == CONFIGURED[DRAINED], 60,
                      what="keepalived's weight back to the original")


def _configured_weight(director, target: str) -> int | None:
    conf = director.state().keepalived.snapshot
    vs = conf.virtual_servers[0] if conf and conf.virtual_servers else None
    rs = next((r for r in (vs.real_servers if vs else ()) if r.endpoint == target), None)
    return None if rs is None else rs.weight


def test_pair_both_directors_drain_the_backup_returns_at_once(topo, director):
    """Each director has its own IPVS table: drain on both, so a failover mid-deploy sends
    nothing to the drained server. The backup has no connections: its drain returns while
    the master's waits for the connection still open."""
    backup_ns = topo.lab.namespace("backup")
    topo.lab.segments["rsnet"].attach(backup_ns, ["10.20.0.2/24"], ifname="rsnet")
    backup_ns.ip("addr", "add", f"{VIP}/32", "dev", "lo")
    backup = KeepalivedDirector(topo, backup_ns, "backup")
    backup.start_keepalived()
    backup.start_daemon()

    held = topo.hold_connection("drain")  # on the master only: clients reach it alone
    target = endpoint(held.server)
    master_drain = subprocess.Popen(
        director.lvsmon_argv("drain", SERVICE, target, "--timeout", "120"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **ENV})  # fmt: skip
    try:
        topo.lab.wait_for(lambda: director.weights().get(target) == 0, 60,
                          what="weight 0 on the master")
        done = backup.lvsmon("drain", SERVICE, target, "--timeout", "120")
        assert done.returncode == 0, done.stderr
        assert "no active connections" in done.stdout
        assert "held by the lvsmon daemon" in done.stderr, done.stderr
        assert master_drain.poll() is None  # still waiting for the held connection
        assert backup.weights()[target] == 0

        # A keepalived restart on the backup: its drain holds there too.
        backup.stop_keepalived()
        backup.start_keepalived()
        topo.lab.wait_for(lambda: held_at_zero(backup, held.server, 1), 60,
                          what="the backup's guard undoing keepalived's restart")
        held.close()
        out, err = master_drain.communicate(timeout=120)
        assert master_drain.returncode == 0, err
        assert f"drained {target} of {SERVICE}" in out
    finally:
        held.close()
        if master_drain.poll() is None:
            master_drain.kill()
            master_drain.communicate()

    weight = CONFIGURED[held.server]
    for node in (director, backup):
        undrain = node.lvsmon("undrain", SERVICE, target)
        assert undrain.returncode == 0, undrain.stderr
        assert node.weights()[target] == weight
