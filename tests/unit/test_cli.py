"""The lvsmon command as a user runs it: a real subprocess of the installed entry point."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lvsmon import __version__
from lvsmon.model import SnatConnection
from lvsmon.snat.store_sqlite import SqliteStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ipvs"


def lvsmon(*args, check=False):
    return subprocess.run(
        [sys.executable, "-m", "lvsmon", *args], capture_output=True, text=True, check=check
    )


@pytest.fixture
def procfs_root(tmp_path):
    (tmp_path / "net").mkdir()
    for name in ("ip_vs", "ip_vs_stats"):
        shutil.copy(FIXTURES / name, tmp_path / "net" / name)
    return tmp_path


def test_version():
    out = lvsmon("--version", check=True).stdout
    assert out.strip() == f"lvsmon, version {__version__}"


@pytest.mark.parametrize("command", [[], ["ipvs"], ["drain"], ["undrain"]])
def test_every_command_explains_itself(command):
    result = lvsmon(*command, "--help", check=True)
    assert "Usage: lvsmon" in result.stdout
    # The first line of the docstring is there, not just the option list.
    assert len(result.stdout.splitlines()) > 5


def test_json_from_procfs_has_the_documented_shape(procfs_root):
    result = lvsmon("ipvs", "--json", "--source", "procfs", "--procfs-root", str(procfs_root))
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)
    assert [s["protocol"] for s in services] == ["tcp", "tcp", "tcp", "tcp", "fwm"]
    first = services[0]
    assert first["address"] == "192.168.0.22"
    assert first["port"] == 3306
    assert first["fwmark"] is None
    assert first["scheduler"] == "wlc"
    # procfs carries no per-service counters: unknown, not zero.
    assert first["stats"] == dict.fromkeys(
        ("connections", "packets_in", "packets_out", "bytes_in", "bytes_out")
    )
    rs = first["real_servers"][0]
    assert rs["address"] == "192.168.82.22"
    assert (rs["port"], rs["forward"], rs["weight"]) == (3306, "tunnel", 100)
    assert (rs["active_connections"], rs["inactive_connections"]) == (248, 2)
    v6 = services[3]
    assert (v6["address"], v6["port"], v6["scheduler"]) == ("2620::1", 80, "sh")
    assert [r["address"] for r in v6["real_servers"]] == ["2620::2", "2620::3", "2620::4"]
    assert v6["real_servers"][0]["forward"] == "route"
    fwm = services[4]
    assert (fwm["fwmark"], fwm["address"], fwm["port"]) == (0x10001000, None, None)


def test_human_table_with_totals(procfs_root):
    result = lvsmon(
        "ipvs", "--stats", "--exact", "--source", "procfs", "--procfs-root", str(procfs_root)
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "TCP  192.168.0.22:3306" in lines[3]
    total = lines[-1].split()
    # /proc/net/ip_vs_stats of the fixture: 0x16AA370 connections, 0xE33656E5 packets in ...
    assert total == ["Total", str(0x16AA370), str(0xE33656E5), "0", str(0x51D8C8883AB3), "0"]


def test_missing_procfs_is_one_clear_line(tmp_path):
    result = lvsmon("ipvs", "--source", "procfs", "--procfs-root", str(tmp_path))
    assert result.returncode == 3
    assert result.stderr.startswith("lvsmon: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "service, real_server",
    [
        ("tcp:10.0.0.1", "10.0.1.2:80"),
        ("http:10.0.0.1:80", "10.0.1.2:80"),
        ("tcp:10.0.0.1:80", "x:1"),
    ],
)
def test_bad_spellings_are_usage_errors_that_change_nothing(service, real_server, tmp_path):
    result = lvsmon("drain", service, real_server, "--state-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("lvsmon: ")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_snat_who_by_protocol(tmp_path):
    start = 1_795_514_592_000_000_000  # 2026-11-24T10:03:12Z
    store = SqliteStore(tmp_path / "snat.sqlite")
    store.write([SnatConnection(
        protocol=protocol, family="inet", inside_address="192.168.1.20", inside_port=port,
        translated_address="10.0.0.5", translated_port=40001, start_ns=start, end_ns=None,
        original_destination_address="10.0.0.100", original_destination_port=80,
        real_destination_address="10.0.1.12", real_destination_port=8080,
        conntrack_id=port, node="lb1", start_exact=True)
        for protocol, port in (("tcp", 51000), ("udp", 52000))], [])
    store.close()
    asked = ("snat", "who", "--store", str(tmp_path / "snat.sqlite"), "--translated",
             "10.0.0.5:40001", "--at", "2026-11-24T10:03:13")
    both = lvsmon(*asked, "--json", check=True).stdout.splitlines()
    assert sorted(json.loads(line)["protocol"] for line in both) == ["tcp", "udp"]
    udp = [json.loads(line) for line in
           lvsmon(*asked, "--protocol", "UDP", "--json", check=True).stdout.splitlines()]
    assert [(r["protocol"], r["inside_port"]) for r in udp] == [("udp", 52000)]
    none = lvsmon(*asked, "--protocol", "132", check=True)
    assert none.stdout.startswith("no sctp connection used 10.0.0.5:40001 at 2026-11-24")
    bad = lvsmon(*asked, "--protocol", "tcpx")
    assert bad.returncode == 2 and "unknown protocol 'tcpx'" in bad.stderr, bad.stderr
    assert bad.stdout == ""
