"""`lvsmon config check` and `lvsmon run` on a bad file, run as a user runs them (subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BROKEN = """\
[daemon]
status_socket = "{socket}"

[ipvs]
interval = 0.1
sauce = "auto"

[log]
facility = "local9"

[exporter]
listen = [":10573", "[::1]:99999"]

[[vrrp.instance]]
name = "web"
interface = "eth0"
vrid = 300
vips = ["10.0.0.1/24"]

[snat]
retention_days = "long"
"""


def lvsmon(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvsmon", *args], capture_output=True, text=True, timeout=60,
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.fixture
def broken(tmp_path) -> Path:
    path = tmp_path / "lvsmon.toml"
    path.write_text(BROKEN.format(socket=tmp_path / "run" / "status.sock"))
    return path


def expected_problems(path: Path) -> list[str]:
    return [
        f"{path}:5: [ipvs] interval: 0.1 out of range 0.5..3600",
        f"{path}:6: [ipvs] sauce: unknown key (known: enabled, interval, source, procfs_root)",
        f'{path}:9: [log] facility: "local9" is not one of kern, user, mail, daemon, auth, '
        "syslog, lpr, news, uucp, cron, authpriv, ftp, local0, local1, local2, local3, local4, "
        "local5, local6, local7",
        f'{path}:12: [exporter] listen: "[::1]:99999": port 99999 is not 1..65535',
        f"{path}:17: [[vrrp.instance]] web: vrid: 300 out of range 1..255",
        f'{path}:21: [snat] retention_days: "long" must be a number',
    ]


def test_check_lists_every_problem_one_per_line_and_exits_2(broken):
    done = lvsmon("config", "check", str(broken))
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.splitlines() == expected_problems(broken)


def test_run_refuses_a_bad_file_with_the_same_messages_and_starts_nothing(broken, tmp_path):
    done = lvsmon("run", "--config", str(broken))
    assert done.returncode == 2, done
    # The daemon reads [snat] too (for the recorder's status file): the same as `config check`.
    assert done.stderr.splitlines() == expected_problems(broken)
    assert not (tmp_path / "run").exists()  # no status socket, not even its directory
    assert "running" not in done.stderr and done.stdout == ""


def test_check_of_a_good_file_says_ok_and_what_would_run(tmp_path):
    path = tmp_path / "lvsmon.toml"
    path.write_text(
        '[observer]\ninterfaces = ["eth0", "eth1"]\n'
        '[ipvs]\ninterval = 2\nsource = "procfs"\nprocfs_root = "/srv/proc"\n'
        '[exporter]\nlisten = ["127.0.0.1:10573", "[::1]:10573"]\n'
        '[agentx]\nenabled = true\n'
        '[keepalived]\nconfig = "/etc/keepalived/keepalived.conf"\nid = "lb1"\n'
        '[log]\ntarget = "syslog"\nfacility = "local6"\n'
        '[[vrrp.instance]]\nname = "web"\ninterface = "eth0"\nvrid = 51\npriority = 150\n'
        'vips = ["10.0.0.100/24"]\n'
    )
    done = lvsmon("config", "check", str(path))
    assert done.returncode == 0, done
    assert done.stderr == ""
    assert done.stdout == (
        f"{path}: OK\n"
        "VRRP observer on eth0, eth1; participant: web (eth0 VRID 51, priority 150); "
        "IPVS every 2 s (procfs, procfs under /srv/proc); "
        "exporter on 127.0.0.1:10573, [::1]:10573; "
        "AgentX to /var/agentx/master under 1.3.6.1.4.1.8072.9999.9999.5866; "
        "keepalived config /etc/keepalived/keepalived.conf (id lb1); "
        "log to syslog /dev/log (local6) at info\n"
    )
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    done = lvsmon("config", "check", str(empty))
    assert done.returncode == 0 and done.stdout.splitlines()[1] == (
        "VRRP observer on every interface that is up; no participant; IPVS every 5 s (auto); "
        "exporter on :10573; AgentX off; no keepalived config; log to stderr at info"
    )


def test_check_of_a_missing_or_broken_file(tmp_path):
    done = lvsmon("config", "check", str(tmp_path / "nope.toml"))
    assert (done.returncode, done.stderr) == (2, f"{tmp_path / 'nope.toml'}: no such file\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[ipvs]\ninterval = = 5\n")
    done = lvsmon("config", "check", str(bad))
    assert done.returncode == 2
    assert done.stderr == f"{bad}:2:12: not valid TOML: Invalid value\n"


@pytest.mark.skipif(os.path.exists("/etc/lvsmon/lvsmon.toml"), reason="a real config exists")
def test_check_reads_the_daemons_file_by_default():
    done = lvsmon("config", "check")
    assert (done.returncode, done.stderr) == (2, "/etc/lvsmon/lvsmon.toml: no such file\n")


def test_the_shipped_example_checks_ok():
    done = lvsmon("config", "check", str(REPO / "deploy" / "lvsmon.toml"))
    assert done.returncode == 0 and done.stdout.startswith(f"{REPO}/deploy/lvsmon.toml: OK\n")
