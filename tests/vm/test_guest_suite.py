"""Boot the IPVS test guest once and run every test of tests/vm/guest inside it."""

import os
import shlex
import sys

import pytest

from tests.vm.qemu import REPO, run_in_guest

pytestmark = pytest.mark.vm


@pytest.mark.skipif(os.environ.get("LVSMON_IN_GUEST") == "1", reason="already inside the guest")
def test_guest_suite():
    # LVSMON_GUEST_PYTEST_ARGS narrows the guest run when debugging, e.g. "-k drain -x".
    extra = shlex.split(os.environ.get("LVSMON_GUEST_PYTEST_ARGS", ""))
    # The hypothesis plugin alone costs ~7 s of start-up under TCG; @given works without it.
    argv = [sys.executable, "-m", "pytest", "tests/vm/guest", "-q",
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    argv += extra
    result = run_in_guest(argv, timeout=900, cwd=REPO)
    print(result.output)
    print(f"guest run: exit {result.returncode} after {result.seconds:.1f} s, boot included")
    assert result.returncode == 0, (
        f"guest pytest exited {result.returncode}; its output:\n{result.output}"
    )
