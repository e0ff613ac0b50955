"""Checks start fast: a whole run of each check (import, read, output) in a fresh interpreter
loads no exporter, SNMP, asyncio or pyroute2 code it does not need (check_vrrp asks the
daemon, served here by a real StatusServer in a thread of the test process).

nrpe starts a new process per check, so every module imported is paid on every check
(benchmarks/checks.py measures the time). Watched here: prometheus_client and the exporter,
pysnmp and the AgentX subagent, asyncio, pyroute2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.vrrp import ObserverSnapshot
from lvsmon.vrrp.segment import Segment
from tests.plugin_output import judged
from tests.served_state import ServedState
from tests.snat_status import status_doc
from tests.vrrp_adverts import send, steps

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "ipvs"
HEAVY = ("prometheus_client", "lvsmon_exporter", "pysnmp", "lvsmon_snmp", "asyncio",
         "pyroute2")

# Runs one check's main() in this interpreter, then prints which watched modules it loaded.
RUNNER = """
import json, sys
module, argv = sys.argv[1], sys.argv[2:]
main = __import__(module, fromlist=["main"]).main
code = main(argv)
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.stdin.read())))
print("LOADED " + json.dumps(loaded), file=sys.stderr)
sys.exit(code)
"""


def loaded_by(module: str, *argv: str) -> tuple[int, str, list[str]]:
    done = subprocess.run([sys.executable, "-c", RUNNER, module, *argv], input=json.dumps(HEAVY),
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    marker = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    assert marker, done.stderr
    judged(done.returncode, done.stdout)
    return done.returncode, done.stdout, json.loads(marker[0].removeprefix("LOADED "))


def test_check_ipvs_reading_procfs_loads_none_of_them(tmp_path):
    (tmp_path / "net").mkdir()
    for name in ("ip_vs", "ip_vs_stats"):
        shutil.copy(FIXTURES / name, tmp_path / "net" / name)
    code, out, loaded = loaded_by("lvsmon_nagios.check_ipvs", "--source", "procfs",
                                  "--procfs-root", str(tmp_path))
    assert out.startswith("IPVS CRITICAL - ") and code == 2, out  # the sample's fwm service
    assert loaded == []


def test_check_ipvs_usage_error_loads_none_of_them():
    code, out, loaded = loaded_by("lvsmon_nagios.check_ipvs", "-w", "bad")
    assert code == 3 and loaded == []


def test_check_snat_loads_no_exporter_and_no_snmp(tmp_path):
    status = tmp_path / "status.json"
    status.write_text(json.dumps(status_doc(None)))
    code, out, loaded = loaded_by("lvsmon_nagios.check_snat", "--status-file", str(status))
    assert code == 0, out
    assert not set(loaded) & {"prometheus_client", "lvsmon_exporter", "pysnmp", "lvsmon_snmp"}


def test_check_snat_loads_no_pyroute2_and_no_asyncio(tmp_path):
    status = tmp_path / "status.json"
    status.write_text(json.dumps(status_doc(None)))
    _, _, loaded = loaded_by("lvsmon_nagios.check_snat", "--status-file", str(status))
    assert loaded == []


def test_check_vrrp_asking_the_daemon_loads_none_of_them(tmp_path):
    """The status socket's client side imports no asyncio (its server does)."""
    now = time.time()
    segment = Segment("eth0", "inet", 51)
    send(segment, "10.0.0.1", 150, steps(now - 10, now), vrid=51)
    observer = ObserverSnapshot(now, ("eth0",), (segment.snapshot(now),))
    state = DaemonState(DaemonInfo("0.1.0", 1, now - 20, now),
                        vrrp=SourceState(enabled=True).succeeded(observer, now))
    with ServedState(tmp_path / "status.sock", state) as served:
        code, out, loaded = loaded_by("lvsmon_nagios.check_vrrp", "--socket", served.path)
    assert out.startswith("VRRP OK - eth0 inet VRID 51: master 10.0.0.1") and code == 0, out
    assert loaded == []


def test_check_vrrp_without_a_daemon_loads_none_of_them(tmp_path):
    code, out, loaded = loaded_by("lvsmon_nagios.check_vrrp", "--socket",
                                  str(tmp_path / "none.sock"))
    assert code == 3 and loaded == []
