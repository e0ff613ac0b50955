"""check_ipvs against a real IPVS table: the guest kernel's, set up and changed with ipvsadm.

The check runs in the director's namespace, where the table lives, as Nagios would run it
(a process; stdout and exit code, strictly read by tests.plugin_output). Every judgement is
made twice, over netlink and from /proc/net/ip_vs, and the two must say the same. The table
is tests/vm/guest/topology.py's, without its traffic: one held connection gives "nat" one
active connection, and nothing else changes the counters meanwhile. Last, the shipped NRPE
definition runs through a real nrpe in the director, as user nagios.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import pytest

from tests.lab import nrpe
from tests.plugin_output import PluginRun, judged, run_plugin
from tests.vm.guest.topology import FORWARD_FLAGS, REAL_SERVERS, TCP_PORT, ipvs_topology

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
DRAIN = "tcp:10.100.0.8:80"  # rs1 and rs3, weight 5 each
NAT = "tcp:10.100.0.1:80"  # rs1 3, rs2 2, rs3 1 (and the held connection)
SORRY = f"{REAL_SERVERS['rs2'][0]}:{TCP_PORT}"  # not a real server of DRAIN


@pytest.fixture(scope="module")
def topo():
    with ipvs_topology(traffic=False) as topology:
        held = topology.hold_connection("nat")
        yield topology
        held.close()


def check(topo, *args: str, source: str = "netlink") -> PluginRun:
    argv = [sys.executable, "-m", "lvsmon_nagios.check_ipvs", "--source", source, *args]
    return run_plugin(topo.director.exec_argv(argv), timeout=120)


def both(topo, *args: str) -> PluginRun:
    """The check over netlink and from procfs: the same state, status line and perfdata."""
    netlink = check(topo, *args, source="netlink")
    procfs = check(topo, *args, source="procfs")
    assert (procfs.code, procfs.status_line) == (netlink.code, netlink.status_line), (
        netlink.stdout, procfs.stdout)
    assert procfs.output.perfdata == netlink.output.perfdata
    return netlink


@contextmanager
def weights(topo, service: str, changes: dict[str, int]):
    """Real servers of a topology service (by host name) at other weights, then put back."""
    spec = topo.services[service]
    by_host = {rs.host: rs for rs in spec.real_servers}

    def set_weight(host, weight):
        rs = by_host[host]
        topo.ipvsadm("-e", *spec.ipvsadm_id(), "-r", rs.endpoint, FORWARD_FLAGS[rs.forward],
                     "-w", str(weight))

    for host, weight in changes.items():
        set_weight(host, weight)
    try:
        yield
    finally:
        for host in changes:
            set_weight(host, by_host[host].weight)


def test_healthy_table_is_ok(topo):
    run = both(topo)
    assert run.code == OK, run.stdout
    count = len(topo.services)
    real = sum(len(spec.real_servers) for spec in topo.services.values())
    assert run.status_line == (f"IPVS OK - {count} virtual services, {real} of {real} real "
                               f"servers available, 1 active connection")
    perf = run.output.perfdata
    assert perf[f"{NAT} available"].value == 3 and perf[f"{NAT} active"].value == 1
    assert perf["fwm:7 available"].value == 2
    assert perf["tcp:[fd00:100::1]:80 available"].value == 2
    assert perf["services"].value == count


def test_a_real_server_at_weight_0_against_thresholds(topo):
    with weights(topo, "drain", {"rs1": 0}):
        run = both(topo, "--service", DRAIN)
        assert run.code == OK  # one of two still takes connections
        assert run.status_line == (f"IPVS OK - {DRAIN}: 1 of 2 real servers available "
                                   "(1 at weight 0), 0 active / 0 inactive connections")
        # The same table under other thresholds: netlink alone (agreement shown above).
        run = check(topo, "--service", DRAIN, "-w", "2:", "-c", "1:")
        assert run.code == WARNING
        assert run.output.summary == f"{DRAIN}: 1 of 2 real servers available (less than 2)"
        assert check(topo, "--service", DRAIN, "-c", "2:").code == CRITICAL
        run = check(topo, "--service", DRAIN, "--warning-weight-zero", "0")
        assert run.code == WARNING
        assert run.output.summary == f"{DRAIN}: 1 real server at weight 0 (more than 0)"
        run = check(topo, "--service", DRAIN, "--warning-available-percent", "50:",
                   "--critical-available-percent", "60:")
        assert run.code == CRITICAL
        assert run.output.summary == f"{DRAIN}: 50% of real servers available (less than 60)"
        perf = run.output.perfdata[f"{DRAIN} available_percent"]
        assert (perf.value, perf.warn, perf.crit) == (50, "50:", "60:")
        # Without --service every service is judged: the others are healthy.
        assert check(topo, "--warning-weight-zero", "0").code == WARNING
    assert check(topo, "--service", DRAIN, "--warning-weight-zero", "0").code == OK


def test_all_weights_0_is_critical(topo):
    with weights(topo, "drain", {"rs1": 0, "rs3": 0}):
        run = both(topo)
        assert run.code == CRITICAL
        assert run.status_line == (f"IPVS CRITICAL - {DRAIN}: 0 of 2 real servers available "
                                   "(all at weight 0)")
        assert check(topo, "--service", DRAIN, "-w", "0:").code == CRITICAL


def test_only_the_sorry_server_has_weight(topo):
    spec = topo.services["drain"]
    topo.ipvsadm("-a", *spec.ipvsadm_id(), "-r", SORRY, "-m", "-w", "1")
    try:
        with weights(topo, "drain", {"rs1": 0, "rs3": 0}):
            assert check(topo, "--service", DRAIN).code == OK  # not named: a real server
            run = both(topo, "--service", DRAIN, "--sorry", SORRY)
            assert run.code == CRITICAL
            assert run.status_line == (f"IPVS CRITICAL - {DRAIN}: 0 of 2 real servers "
                                       f"available (only the sorry server {SORRY} has weight)")
            assert check(topo, "--sorry", SORRY, "--sorry-state", "warning").code == WARNING
            assert check(topo, "--sorry", f"{DRAIN}={SORRY}").code == CRITICAL
        run = both(topo, "--service", DRAIN, "--sorry", SORRY)
        assert run.code == OK
        assert "2 of 2 real servers available (0 at weight 0), sorry server" in run.status_line
    finally:
        topo.ipvsadm("-d", *spec.ipvsadm_id(), "-r", SORRY)


def test_active_connections_threshold(topo):
    run = both(topo, "--service", NAT, "--warning-active", "0")
    assert run.code == WARNING
    assert run.output.summary == f"{NAT}: 1 active connection (more than 0)"


def test_a_service_that_does_not_exist_is_critical(topo):
    run = both(topo, "--service", "tcp:10.100.0.99:80", "--service", "fwm:7")
    assert run.code == CRITICAL
    assert run.status_line == "IPVS CRITICAL - tcp:10.100.0.99:80: no such virtual service"
    assert run.output.perfdata["fwm:7 available"].value == 2


@pytest.mark.parametrize(("args", "words"), [
    (["--service", "tcp:10.100.0.8"], "bad service 'tcp:10.100.0.8'"),
    (["-w", "5:1"], "bad range '5:1'"),
])
def test_bad_spelling_and_bad_range_are_unknown(topo, args, words):
    run = check(topo, *args)
    assert run.code == UNKNOWN and run.stdout.count("\n") == 1 and words in run.stdout


def test_without_cap_net_admin_netlink_is_unknown_and_procfs_works(topo):
    home = nrpe.user_dir(topo.lab, "unprivileged")
    program = str(nrpe.plugin_program(home, "check_ipvs"))
    run = run_plugin(topo.director.exec_argv(nrpe.as_user([program, "--source", "netlink"])),
                     timeout=120, cwd="/")
    assert run.code == UNKNOWN and run.stdout.count("\n") == 1
    assert "needs CAP_NET_ADMIN" in run.stdout and "or use --source procfs" in run.stdout
    run = run_plugin(topo.director.exec_argv(nrpe.as_user([program, "--source", "procfs"])),
                     timeout=120, cwd="/")
    assert run.code == OK and run.status_line == both(topo).status_line


def test_the_shipped_nrpe_definition_answers_as_run_directly(topo):
    if nrpe.missing():
        pytest.skip(nrpe.missing())
    home = nrpe.user_dir(topo.lab, "nrpe")
    program = str(nrpe.plugin_program(home, "check_ipvs"))
    commands = nrpe.shipped_commands({"/usr/bin/check_ipvs": program}, names=("check_ipvs",))
    nrpe.start_nrpe(topo.lab, topo.director, home, commands, "127.0.0.1")
    argv = topo.director.exec_argv(nrpe.as_user(commands["check_ipvs"].split()))
    for changes, state in (({}, OK), ({"rs1": 0, "rs3": 0}, CRITICAL)):
        with weights(topo, "drain", changes):
            direct = run_plugin(argv, timeout=120, cwd="/")
            code, out = nrpe.check_nrpe(topo.director, "127.0.0.1", "check_ipvs", timeout=120)
            over_nrpe = judged(code, out)
            assert code == direct.code == state, (out, direct.stdout)
            assert over_nrpe.status_line == direct.status_line
            assert over_nrpe.perfdata == direct.output.perfdata
