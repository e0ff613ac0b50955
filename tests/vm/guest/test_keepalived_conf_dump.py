"""In the IPVS guest: keepalived's checker agrees with lvsmon's reading of keepalived.conf.

The host kernel has no IPVS, so keepalived's checker process exits there; here it
runs. For every sample and fixture with virtual servers, keepalived (checker
only) is started on the file in a namespace and sent its DATA signal: the
virtual servers, real servers, sorry servers and groups it dumps are the ones
lvsmon reads, and the IPVS table it builds has exactly the services lvsmon
expects (`ipvsadm -Ln` in the namespace). The VRRP dump of the one sample
whose VRRP process needs IPVS (lvs_sync_daemon_interface) is compared here too.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from lvsmon.keepalived import read_config
from tests.lab import Lab
from tests.lab.keepalived_witness import (
    comparable_check,
    data_dump,
    expected_check,
    expected_vrrp,
    parse_check_dump,
    parse_vrrp_dump,
    request_dump,
    start_keepalived,
    witness_namespace,
)

REPO = Path(__file__).resolve().parents[3]
SAMPLES = Path("/usr/share/doc/keepalived/samples")
FIXTURES = REPO / "tests" / "fixtures" / "keepalived" / "valid"
CONFIG_ID = "lb1"
# Samples whose MISC_CHECK script does not exist here: keepalived drops the checker
# when it starts ("Disabling misc script"), a fact of the machine, not of the file.
MISSING_SCRIPTS = {"keepalived.conf.misc_check", "keepalived.conf.misc_check_arg"}


def lvs_files() -> list[Path]:
    candidates = [*sorted(SAMPLES.glob("keepalived.conf*")),
                  *sorted(FIXTURES.glob("*/keepalived.conf"))]
    return [p for p in candidates if not p.name.endswith(".gz")
            and read_config(str(p), CONFIG_ID).virtual_servers]


@pytest.fixture(scope="module")
def lab():
    with Lab() as the_lab:
        yield the_lab


@pytest.fixture(scope="module")
def namespace(lab):
    """One namespace for every file (building one costs seconds under emulation)."""
    return witness_namespace(lab)


def ipvs_services(namespace) -> set[tuple]:
    """(protocol, address, port, fwmark, scheduler) per `ipvsadm -Ln`, the independent witness."""
    found = set()
    for line in namespace.run(["ipvsadm", "-Ln"]).stdout.splitlines():
        words = line.split()
        if not words or words[0] not in ("TCP", "UDP", "SCTP", "FWM"):
            continue
        rest = [w for w in words[2:] if w != "IPv6"]
        if words[0] == "FWM":
            found.add(("fwm", None, None, int(words[1]), rest[0]))
            continue
        host, _, port = words[1].rpartition(":")
        found.add((words[0].lower(), host.strip("[]"), int(port), None, rest[0]))
    return found


@pytest.mark.parametrize("path", lvs_files(), ids=lambda p: p.parent.name + "/" + p.name)
def test_checker_dump_and_ipvs_table(lab, namespace, path):
    config = read_config(str(path), CONFIG_ID)
    lab.wait_for(lambda: ipvs_services(namespace) == set(), 30,
                 what="an empty IPVS table (the previous keepalived's services gone)")
    keepalived = start_keepalived(lab, namespace, path, config_id=CONFIG_ID, part="check")
    try:
        text = request_dump(lab, namespace, keepalived, part="check")
        services = ipvs_services(namespace)
    finally:
        keepalived.stop()
    servers, groups = parse_check_dump(text)
    expected = expected_check(config)
    if path.name in MISSING_SCRIPTS:
        assert "Disabling misc script" in keepalived.log()
        for rs in (rs for vs in expected for rs in vs["real_servers"]):
            rs["checkers"] = [c for c in rs["checkers"] if c[0] != "MISC_CHECK"]
    assert comparable_check(servers) == expected, f"keepalived's dump:\n{text}"
    assert groups == expected_groups(config), f"keepalived's dump:\n{text}"
    assert services == expected_services(config)


def test_vrrp_dump_of_a_sample_that_needs_ipvs(lab, namespace):
    path = SAMPLES / "keepalived.conf.vrrp.lvs_syncd"
    config = read_config(str(path), CONFIG_ID)
    text = data_dump(lab, namespace, path, config_id=CONFIG_ID, part="vrrp")
    assert parse_vrrp_dump(text) == expected_vrrp(config), f"keepalived's dump:\n{text}"


def expected_groups(config) -> dict[str, list[str]]:
    """lvsmon's groups as keepalived's dump lines them: addresses first, then fwmarks."""
    out = {}
    for group in config.virtual_server_groups:
        lines = []
        for m in group.members:
            if m.is_fwmark:
                continue
            if m.first_address == m.last_address:
                lines.append(f"VIP = {m.first_address}, VPORT = {m.port}")
            else:
                lines.append(f"VIP Range = {m.first_address}-{m.last_address}, VPORT = {m.port}")
        for m in group.members:
            if m.is_fwmark:
                family = {"inet": " IPv4", "inet6": " IPv6"}.get(m.family or "", "")
                lines.append(f"FWMARK = {m.fwmark}{family}")
        out[group.name] = lines
    return out


def expected_services(config) -> set[tuple]:
    """(protocol, address, port, fwmark, scheduler) of every IPVS service keepalived makes."""
    found = set()
    for vs in config.virtual_servers:
        if vs.key is not None:
            found.add((vs.key.protocol, vs.key.address, vs.key.port, vs.key.fwmark, vs.scheduler))
            continue
        group = config.virtual_server_group(vs.group)
        for m in group.members:
            if m.is_fwmark:
                found.add(("fwm", None, None, m.fwmark, vs.scheduler))
                continue
            first = int(ipaddress.ip_address(m.first_address))
            for n in range(first, first + m.address_count):
                address = str(ipaddress.ip_address(n))
                found.add((vs.protocol, address, m.port, None, vs.scheduler))
    return found

