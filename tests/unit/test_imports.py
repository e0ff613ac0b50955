"""What starts fast stays fast: importing the CLI, the SNAT record and status code, the IPVS
reader or the netlink decoders does not import pyroute2 (~140 ms); only opening a socket
that needs it does. Each import runs in a fresh interpreter, where nothing was imported yet.
"""

import subprocess
import sys

import pytest

WITHOUT_PYROUTE2 = [
    "lvsmon.cli",
    "lvsmon.snat.record",
    "lvsmon.snat.status",
    "lvsmon.snat.capture",
    "lvsmon.ipvs",
    "lvsmon.netlink",
    "lvsmon.vrrp.participant",
]


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("module", WITHOUT_PYROUTE2)
def test_import_leaves_pyroute2_out(module):
    modules = imported_after(module)
    assert module in modules  # the import did happen
    assert not {name for name in modules if name.split(".")[0] == "pyroute2"}


def test_the_check_sees_pyroute2_when_it_is_imported():
    """The same check on a module that does import pyroute2, so it can fail."""
    assert "pyroute2" in imported_after("pyroute2.netlink")
