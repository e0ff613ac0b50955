"""Boot the IPVS test guest and run the tests of tests/vm/guest inside it.

The long scenarios (keepalived with its checkers, the AgentX tables, the tour) each get a boot
of their own, so each has its own time limit and a slow one cannot starve the rest; every
other test file shares one boot (a boot with pytest's start costs some 20 s under TCG).
"""

import os
import shlex
import sys
from pathlib import Path

import pytest

from tests.vm.qemu import REPO, run_in_guest

pytestmark = pytest.mark.vm

GUEST_TESTS = Path(__file__).parent / "guest"
# Files that run in a boot of their own; a file not listed here joins the shared boot.
OWN_BOOT = ("test_keepalived_drift.py", "test_drain_hold.py", "test_agentx_ipvs.py",
            "test_tour.py")
TIMEOUT_SECONDS = 1200  # per boot; a quiet machine needs a third of it
MEMORY_MIB = {"test_tour": 2048}  # two directors, each with snmpd, Prometheus on a monitor


def _groups() -> dict[str, list[str]]:
    files = sorted(path.name for path in GUEST_TESTS.glob("test_*.py"))
    groups = {"ipvs": [name for name in files if name not in OWN_BOOT]}
    groups.update({name.removesuffix(".py"): [name] for name in files if name in OWN_BOOT})
    return groups


GROUPS = _groups()


@pytest.mark.skipif(os.environ.get("LVSMON_IN_GUEST") == "1", reason="already inside the guest")
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_guest_suite(group):
    # LVSMON_GUEST_PYTEST_ARGS narrows the guest run when debugging, e.g. "-k drain -x".
    extra = shlex.split(os.environ.get("LVSMON_GUEST_PYTEST_ARGS", ""))
    # The hypothesis plugin alone costs ~7 s of start-up under TCG; @given works without it.
    argv = [sys.executable, "-m", "pytest", *(f"tests/vm/guest/{name}" for name in GROUPS[group]),
            "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    argv += extra
    result = run_in_guest(argv, timeout=TIMEOUT_SECONDS, cwd=REPO,
                          memory_mib=MEMORY_MIB.get(group, 1024))
    print(result.output)
    print(f"guest run {group}: exit {result.returncode} after {result.seconds:.1f} s, "
          "boot included")
    # 5: no test selected, when LVSMON_GUEST_PYTEST_ARGS narrows the run to another group
    ok = result.returncode == 0 or (extra and result.returncode == 5)
    assert ok, f"guest pytest exited {result.returncode}; its output:\n{result.output}"
