"""The shipped NRPE definitions (deploy/nrpe-lvsmon.cfg) through a real nrpe and check_nrpe:
each check answers over NRPE with the status line and exit code it gives when run directly.

nrpe listens on 127.0.0.1 inside a lab namespace and runs the shipped command lines, with
only this machine's paths put in (where the console scripts and the status file are), as
user nagios. Here, on the host: check_snat on status files written by the test (the real
recorder runs in test_snat_metrics.py) and check_ipvs as shipped (--source procfs; this
kernel has no IPVS, so UNKNOWN, the same both ways). check_ipvs against a real IPVS table
through nrpe runs in the qemu guest (tests/vm/guest/test_check_ipvs.py), check_vrrp's beside
a real daemon and keepalived pair in tests/lab/test_check_vrrp.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.lab import nrpe
from tests.plugin_output import judged, run_plugin
from tests.snat_status import status_doc

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(nrpe.missing() is not None, reason=str(nrpe.missing()))]

LOOPBACK = "127.0.0.1"
SHIPPED_STATUS_FILE = "/run/lvsmon/snat-status.json"


def same_over_nrpe(ns, command: str, argv: list[str]) -> str:
    """check_nrpe's answer equals the direct run's (as nrpe's user); the status line."""
    direct = run_plugin(ns.exec_argv(nrpe.as_user(argv)), cwd="/")
    code, out = nrpe.check_nrpe(ns, LOOPBACK, command)
    over_nrpe = judged(code, out)
    assert (code, over_nrpe.status_line) == (direct.code, direct.status_line), (out,
                                                                                direct.stdout)
    assert over_nrpe.perfdata.keys() == direct.output.perfdata.keys()
    return direct.status_line


def test_shipped_definitions_answer_over_nrpe_as_run_directly(lab):
    ns = lab.namespace("lb")
    home = nrpe.user_dir(lab)
    status = home / "snat-status.json"
    programs = {f"/usr/bin/{name}": str(nrpe.plugin_program(home, name))
                for name in ("check_snat", "check_ipvs")}
    commands = nrpe.shipped_commands({**programs, SHIPPED_STATUS_FILE: str(status)},
                                     names=("check_snat", "check_ipvs"))
    assert set(commands) == {"check_snat", "check_ipvs"}
    nrpe.start_nrpe(lab, ns, home, commands, LOOPBACK)
    snat_argv = commands["check_snat"].split()
    seen = []

    # No recorder: CRITICAL.
    seen.append(same_over_nrpe(ns, "check_snat", snat_argv))
    assert seen[-1] == f"SNAT CRITICAL - recorder not running: no status file {status}"

    # A running recorder (this test's pid stands in for it): OK.
    status.write_text(json.dumps(status_doc(None)))
    seen.append(same_over_nrpe(ns, "check_snat", snat_argv))
    assert seen[-1].startswith(f"SNAT OK - recorder running (pid {os.getpid()}, node lb1)")

    # Events lost: WARNING, then CRITICAL past -c 1000 (the shipped thresholds).
    status.write_text(json.dumps(status_doc(None, overflows=2, events_dropped=12)))
    seen.append(same_over_nrpe(ns, "check_snat", snat_argv))
    assert seen[-1].startswith("SNAT WARNING - 12 events lost since the recorder started")
    status.write_text(json.dumps(status_doc(None, overflows=9, events_dropped=5000)))
    seen.append(same_over_nrpe(ns, "check_snat", snat_argv))
    assert seen[-1].startswith("SNAT CRITICAL - 5000 events lost")

    # check_ipvs as shipped reads /proc/net/ip_vs, which this kernel lacks: UNKNOWN.
    seen.append(same_over_nrpe(ns, "check_ipvs", commands["check_ipvs"].split()))
    ipvs = Path("/proc/net/ip_vs")
    assert seen[-1].startswith("IPVS UNKNOWN - no IPVS in this kernel") != ipvs.exists()
    print("over NRPE, as directly:\n  " + "\n  ".join(seen))
