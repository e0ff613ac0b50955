"""Guest-only tests: skipped unless running inside the IPVS test VM (LVSMON_IN_GUEST=1).

On the host, tests/vm/test_guest_suite.py boots the guest once and runs this
folder there, so one boot covers every test in it.
"""

import os
from pathlib import Path

import pytest

IN_GUEST = os.environ.get("LVSMON_IN_GUEST") == "1"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if IN_GUEST:
        return
    skip = pytest.mark.skip(reason="runs inside the IPVS test VM only (test_guest_suite.py)")
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def ipvs_topology():
    """The traffic topology of tests/vm/guest/topology.py, built once per test module.

    Per module, not per session: a test module may open a Lab of its own, and one
    process holds one Lab at a time.
    """
    from tests.vm.guest.topology import ipvs_topology as build

    with build() as topo:
        yield topo
