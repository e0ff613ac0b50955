"""The tour of `make demo` (tests/vm/guest/tour.py), run whole, judged on what each step saw.

The tour runs once for the module; each test reads one step's outcome (data the frontends
answered: Prometheus series, AgentX rows, check exit codes, lvsmon's JSON), never its
narration. Addresses are the site's (tests/vm/guest/site.py).

Booted by tests/vm/test_guest_suite.py, the guest also has make demo-shell's network: qemu's
user networking (restrict=on) forwarding a port of the host's loopback to the guest, where
lb1's exporter is relayed as demo-shell relays it; the host scrapes it through the forward
while the tour runs, and listens on a port of its own that the guest must not reach.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.vm.guest import shell, tour
from tests.vm.guest.site import CLIENTS, DIRECTORS, EXPORTER_PORT, REAL_SERVERS, Site, endpoint

LB1, LB2 = DIRECTORS["lb1"][0], DIRECTORS["lb2"][0]  # their addresses on the VRRP segment
OK, CRITICAL = 0, 2


def forward_lb1_exporter(site: Site) -> None:
    """What make demo-shell does for lb1's exporter: the NIC up, the port relayed into lb1."""
    shell.bring_up_nic()
    shell.relay(EXPORTER_PORT, site.lb1.ns.name, (site.lb1.back, EXPORTER_PORT))


@pytest.fixture(scope="module")
def steps() -> dict[int, tour.StepResult]:
    forward = os.environ.get(shell.FORWARD_ENV) == "1"
    results = tour.run_tour(on_ready=forward_lb1_exporter if forward else None)
    return {result.number: result for result in results}


def outcome(steps, number: int) -> dict:
    result = steps[number]
    assert result.outcome, f"step {number} did not finish: {result.problems}"
    return result.outcome


def test_every_step_ran_and_met_its_expectations(steps):
    assert sorted(steps) == list(range(1, len(tour.STEPS) + 1))
    assert {n: r.problems for n, r in steps.items() if r.problems} == {}


def test_healthy_site_through_every_frontend(steps):
    seen = outcome(steps, 1)
    assert seen["diff_exit"] == 0
    assert seen["masters"] == {"lb1": 1, "lb2": 1}
    assert seen["master_router"] == {"lb1": LB1, "lb2": LB1}
    assert seen["snmp_real_servers"] == {endpoint(a): 1 for a in REAL_SERVERS.values()}
    assert seen["checks"] == {"check_vrrp": OK, "check_ipvs": OK, "check_snat": OK}


def test_drain_held_through_the_check_flap(steps):
    seen = outcome(steps, 2)
    assert seen["drains"] == {"lb1": 0, "lb2": 0}
    assert seen["held"] is True
    assert seen["undrains"] == {"lb1": 0, "lb2": 0}
    assert seen["weight_after_undrain"] == 1


def test_failover_new_master_in_exporter_agentx_and_check_vrrp(steps):
    seen = outcome(steps, 3)
    assert seen["master_router"] == {"lb1": LB2, "lb2": LB2}  # the exporters
    assert seen["agentx_master"] == [LB2]  # lvsmonSegmentMaster on lb2's snmpd
    assert CRITICAL not in seen["check_vrrp_codes"]  # never, through the whole failover
    assert CRITICAL not in seen["check_vrrp_after"].values()


def test_split_brain_critical_alert_and_trap_then_healed(steps):
    seen = outcome(steps, 4)
    assert seen["check_vrrp"] == CRITICAL
    assert seen["alert_firing"] is True
    assert seen["trap"] is True
    assert seen["check_vrrp_healed"] != CRITICAL
    assert seen["masters_healed"] == {"lb1": 1, "lb2": 1}


def test_snat_answer_names_the_right_client(steps):
    seen = outcome(steps, 5)
    assert seen["answers"] == 1
    assert seen["answer"]["inside_address"] == CLIENTS["client2"]
    assert seen["answer"]["inside_port"] == seen["client"]["port"]
    assert seen["answer"]["original_destination"] == "10.10.0.100:80"


def test_only_the_sorry_server_left_is_reported(steps):
    seen = outcome(steps, 6)
    assert seen["diff_exit"] == 1
    assert "sorry_server_serving" in seen["diff_kinds"]
    assert seen["check_ipvs"] == CRITICAL
    assert seen["sorry_gauge"].get("lb1") == 1


@pytest.mark.skipif(shell.HOST_LISTENER_ENV not in os.environ,
                    reason="needs the host's side (tests/vm/test_guest_suite.py)")
def test_the_guest_reaches_nothing_outside(steps):
    addresses = subprocess.run(["ip", "-br", "-4", "addr"], capture_output=True, text=True,
                               check=True).stdout
    assert shell.GUEST_ADDRESS in addresses  # the NIC is up: the tour's forward went through it
    default = subprocess.run(["ip", "route", "show", "default"], capture_output=True, text=True,
                             check=True).stdout
    assert default.strip() == ""
    # The host's loopback, through qemu; the host's side also checks that nothing arrived.
    with pytest.raises(OSError):
        socket.create_connection((shell.HOST_ADDRESS, int(os.environ[shell.HOST_LISTENER_ENV])),
                                 timeout=10).close()
