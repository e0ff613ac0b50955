"""lvsmon reads keepalived.conf as keepalived does: keepalived itself is the witness.

For every sample keepalived installs and every valid fixture: `keepalived -t`
accepts it (or, for the few samples keepalived 2.2.7 itself refuses, refuses it
for the reason listed), and a real keepalived started on it in a lab namespace
dumps (on its DATA signal) the same VRRP instances and sync groups lvsmon reads.
The virtual servers are compared in the qemu guest (tests/vm/guest), where the
kernel has the IPVS keepalived's checker process needs.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from lvsmon.errors import KeepalivedConfigError
from lvsmon.keepalived import read_config
from tests.lab.keepalived_witness import (
    config_test,
    data_dump,
    expected_vrrp,
    parse_vrrp_dump,
    witness_namespace,
)

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path("/usr/share/doc/keepalived/samples")
FIXTURES = REPO / "tests" / "fixtures" / "keepalived" / "valid"
CONFIG_ID = "lb1"

# Samples keepalived 2.2.7's own `-t` refuses even with every interface they name,
# with the complaint that says why. lvsmon reads them all the same (as keepalived
# runs them), and the dump comparison still holds.
REFUSED_SAMPLES = {
    "keepalived.conf.SSL_GET": "Initial state master is incompatible with AH authentication",
    # Its script lines are for `-i high` / `-i low`; with another id the script is removed.
    "keepalived.conf.conditional_conf": "No script set for vrrp_script check_VI_0",
    "keepalived.conf.fwmark": "protocol specified for fwmark - protocol will be ignored",
    "keepalived.conf.track_interface": "cannot track route 192.168.112.0/24",
    "keepalived.conf.vrrp.localcheck": "scripts are being executed but script_security not",
    "keepalived.conf.vrrp.lvs_syncd": "Unknown keyword 'VI_2'",
    "keepalived.conf.vrrp.routes": "cannot track route 192.168.112.0/24",
    "keepalived.conf.vrrp.rules": "VRRP parsed invalid IP 192.168.100./24",
    "keepalived.conf.vrrp.static_ipaddress": "cannot track route 192.168.112.0/24",
}

# Samples whose VRRP process starts IPVS (lvs_sync_daemon_interface): on this kernel
# keepalived exits "IPVS: Can't initialize ipvs", so their dump is compared in the guest.
NEEDS_IPVS = {"keepalived.conf.vrrp.lvs_syncd"}

FIXTURE_CASES = [
    ("includes", CONFIG_ID),
    ("definitions", CONFIG_ID),
    ("conditionals", "lb1"),
    ("conditionals", "lb2"),
    ("sequences", CONFIG_ID),
    ("braces", CONFIG_ID),
    ("vrrp", CONFIG_ID),
    ("lvs", CONFIG_ID),
]


def sample_names() -> list[str]:
    return sorted(
        p.name for p in SAMPLES.glob("keepalived.conf*") if p.name.startswith("keepalived.conf")
    )


def sample_path(name: str, tmp_path: Path) -> Path:
    """The sample, decompressed first if the package ships it gzipped."""
    source = SAMPLES / name
    if name.endswith(".gz"):
        target = tmp_path / name[: -len(".gz")]
        with gzip.open(source, "rb") as packed, open(target, "wb") as plain:
            shutil.copyfileobj(packed, plain)
        return target
    return source


@pytest.mark.parametrize("name", sample_names())
def test_sample(lab, tmp_path, name):
    path = sample_path(name, tmp_path)
    check_against_keepalived(lab, path, CONFIG_ID, REFUSED_SAMPLES.get(name),
                             dump=name not in NEEDS_IPVS)


@pytest.mark.parametrize(("fixture", "config_id"), FIXTURE_CASES)
def test_fixture(lab, fixture, config_id):
    check_against_keepalived(lab, FIXTURES / fixture / "keepalived.conf", config_id, None)


def test_samples_are_installed():
    assert len(sample_names()) >= 20, f"keepalived's samples missing from {SAMPLES}"


def check_against_keepalived(lab, path: Path, config_id: str, refusal: str | None,
                             dump: bool = True) -> None:
    config = read_config(str(path), config_id)
    namespace = witness_namespace(lab)
    verdict = config_test(namespace, path, config_id)
    if refusal is None:
        assert verdict.returncode == 0, f"keepalived -t refuses {path}:\n{verdict.stderr}"
    else:
        assert verdict.returncode != 0 and refusal in verdict.stderr, verdict.stderr
    if not config.vrrp_instances or not dump:
        return
    text = data_dump(lab, namespace, path, config_id=config_id, part="vrrp")
    dumped_instances, dumped_groups = parse_vrrp_dump(text)
    instances, groups = expected_vrrp(config)
    assert dumped_instances == instances, f"keepalived's dump:\n{text}"
    assert dumped_groups == groups


# Broken files: keepalived -t refuses them too, and lvsmon names the line.
BROKEN = [
    ("unclosed", "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"
     " virtual_ipaddress {\n  192.168.200.1\n }\n", 1),
    ("extra-brace", "global_defs {\n router_id x\n}\n}\n", 4),
    ("quote", 'global_defs {\n router_id "x\n}\n', 2),
    ("vrid", "vrrp_instance A {\n interface eth0\n virtual_router_id 300\n"
     " virtual_ipaddress {\n  192.168.200.1\n }\n}\n", 3),
    ("priority", "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 0\n"
     " virtual_ipaddress {\n  192.168.200.1\n }\n}\n", 4),
    ("vip", "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"
     " virtual_ipaddress {\n  192.168.200.300\n }\n}\n", 5),
    ("lb-kind", "virtual_server 10.10.0.1 80 {\n lb_kind FAST\n real_server 10.10.1.1 80 {\n"
     " }\n}\n", 2),
]


@pytest.mark.parametrize(("name", "text", "line"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_file(lab, tmp_path, name, text, line):
    path = tmp_path / f"{name}.conf"
    path.write_text(text)
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(str(path), CONFIG_ID)
    assert (caught.value.path, caught.value.line) == (str(path), line)
    verdict = config_test(witness_namespace(lab), path, CONFIG_ID)
    assert verdict.returncode != 0, f"keepalived -t accepts {name}:\n{text}"


def test_lvsmon_is_stricter_about_a_missing_include(lab, tmp_path):
    """keepalived goes on without a plain include that names no file; lvsmon refuses to,
    since it would then report a configuration the operator did not write."""
    path = tmp_path / "keepalived.conf"
    path.write_text("global_defs {\n router_id x\n}\ninclude /nonexistent/lvsmon-test.conf\n")
    assert config_test(witness_namespace(lab), path, CONFIG_ID).returncode == 0
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(str(path), CONFIG_ID)
    assert caught.value.line == 4
