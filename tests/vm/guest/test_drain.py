"""lvsmon drain / undrain on a live IPVS table, as an operator runs them.

The commands run in the director's namespace (where the table lives) through the
project's entry point; ipvsadm is the independent witness of weights and
connection counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.vm.guest.topology import REAL_SERVERS, TCP_PORT

SERVICE = "drain"


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


def lvsmon_argv(topo, *args):
    return topo.director.exec_argv([sys.executable, "-m", "lvsmon", *map(str, args)])


def lvsmon(topo, *args, timeout=60):
    return subprocess.run(
        lvsmon_argv(topo, *args), capture_output=True, text=True, timeout=timeout, check=False
    )


def weights(topo) -> dict[str, tuple[int, int]]:
    """{real server endpoint: (weight, active connections)} of the drain service, per ipvsadm."""
    out = topo.ipvsadm("-Ln", *topo.services[SERVICE].ipvsadm_id())
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["->"] and parts[1][0].isdigit():
            found[parts[1]] = (int(parts[3]), int(parts[4]))
    return found


def table_shape(topo) -> list[list[str]]:
    """`ipvsadm -Ln` without the connection counts, which change as old connections expire."""
    return [line.split()[:-2] if line.lstrip().startswith("->") else line.split()
            for line in topo.ipvsadm("-Ln").splitlines()]


def endpoint_of(host: str) -> str:
    return f"{REAL_SERVERS[host][0]}:{TCP_PORT}"


def test_drain_waits_for_the_open_connection_then_undrain_restores(ipvs_topology, state_dir):
    topo = ipvs_topology
    service = topo.services[SERVICE].text
    held = topo.hold_connection(SERVICE)
    target = endpoint_of(held.server)
    before = weights(topo)
    assert before[target][1] == 1, before

    argv = lvsmon_argv(topo, "drain", service, target, "--timeout", "60", "--state-dir", state_dir)
    drain = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # It sets weight 0 at once, and keeps waiting while the connection is open.
        # Generous: under TCG on a busy host the CLI alone can take tens of seconds to start.
        topo.lab.wait_for(lambda: weights(topo)[target][0] == 0, 120, what="weight 0")
        time.sleep(2)
        assert drain.poll() is None, drain.communicate()
        saved = json.loads((state_dir / "drained.json").read_text())
        assert saved[f"{service} {target}"]["weight"] == before[target][0]
        # The other real server keeps its weight.
        for other, (weight, _) in weights(topo).items():
            if other != target:
                assert weight == before[other][0]
        held.close()
        out, err = drain.communicate(timeout=30)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.communicate()
    assert drain.returncode == 0, err
    assert f"drained {target} of {service}" in out
    assert weights(topo)[target] == (0, 0)

    undrain = lvsmon(topo, "undrain", service, target, "--state-dir", str(state_dir))
    assert undrain.returncode == 0, undrain.stderr
    assert weights(topo)[target][0] == before[target][0]
    assert json.loads((state_dir / "drained.json").read_text()) == {}


def test_drain_timeout_says_how_many_remain_and_keeps_the_saved_weight(ipvs_topology, state_dir):
    topo = ipvs_topology
    service = topo.services[SERVICE].text
    held = topo.hold_connection(SERVICE)
    target = endpoint_of(held.server)
    weight = weights(topo)[target][0]
    try:
        first = lvsmon(
            topo, "drain", service, target, "--timeout", "2", "--state-dir", str(state_dir)
        )
        assert first.returncode == 6, first.stderr
        assert "1 active connection(s) remain" in first.stderr
        # A second drain of a drained server must not save weight 0 over the real one.
        second = lvsmon(
            topo, "drain", service, target, "--timeout", "1", "--state-dir", str(state_dir)
        )
        assert second.returncode == 6, second.stderr
    finally:
        held.close()
    undrain = lvsmon(topo, "undrain", service, target, "--state-dir", str(state_dir))
    assert undrain.returncode == 0, undrain.stderr
    assert weights(topo)[target][0] == weight


@pytest.mark.parametrize(
    "service, real_server, message",
    [
        ("tcp:10.100.0.8:80", "10.20.0.99:8080", "no real server 10.20.0.99:8080"),
        ("tcp:10.100.0.99:80", "10.20.0.11:8080", "no virtual service tcp:10.100.0.99:80"),
    ],
)
def test_drain_of_something_unknown_changes_nothing(
    ipvs_topology, state_dir, service, real_server, message
):
    topo = ipvs_topology
    table_before = table_shape(topo)
    result = lvsmon(topo, "drain", service, real_server, "--state-dir", str(state_dir))
    assert result.returncode == 5, result.stderr
    assert message in result.stderr
    assert table_shape(topo) == table_before
    state = state_dir / "drained.json"
    assert not state.exists() or json.loads(state.read_text()) == {}


def test_undrain_of_a_server_never_drained_is_refused(ipvs_topology, state_dir):
    topo = ipvs_topology
    service = topo.services[SERVICE].text
    target = endpoint_of("rs1")
    table_before = table_shape(topo)
    result = lvsmon(topo, "undrain", service, target, "--state-dir", str(state_dir))
    assert result.returncode == 5
    assert "was not drained by lvsmon" in result.stderr
    assert table_shape(topo) == table_before
