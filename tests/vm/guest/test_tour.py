"""The tour of `make demo` (tests/vm/guest/tour.py), run whole, judged on what each step saw.

The tour runs once for the module; each test reads one step's outcome (data the frontends
answered: Prometheus series, AgentX rows, check exit codes, lvsmon's JSON), never its
narration. Addresses are the site's (tests/vm/guest/site.py).
"""

from __future__ import annotations

import pytest

from tests.vm.guest import tour
from tests.vm.guest.site import CLIENTS, DIRECTORS, REAL_SERVERS, endpoint

LB1, LB2 = DIRECTORS["lb1"][0], DIRECTORS["lb2"][0]  # their addresses on the VRRP segment
OK, CRITICAL = 0, 2


@pytest.fixture(scope="module")
def steps() -> dict[int, tour.StepResult]:
    return {result.number: result for result in tour.run_tour()}


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
