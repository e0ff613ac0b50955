"""The files in deploy/ are valid for the real tools that read them."""

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")
def test_prometheus_rules_pass_promtool():
    result = subprocess.run(
        ["promtool", "check", "rules", str(DEPLOY / "prometheus-lvsmon.rules.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rules found" in result.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
@pytest.mark.parametrize("unit", sorted(p.name for p in DEPLOY.glob("*.service")))
def test_systemd_units_verify(unit, tmp_path):
    # Point ExecStart's /usr/bin/lvsmon at a file that exists, so verify checks the rest.
    text = (DEPLOY / unit).read_text().replace("/usr/bin/lvsmon", "/bin/true")
    text = text.replace("/usr/bin/check_snat", "/bin/true")
    copy = tmp_path / unit
    copy.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    problems = [
        line for line in (result.stdout + result.stderr).splitlines()
        if str(copy) in line or "Unknown" in line
    ]  # fmt: skip
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate missing")
def test_logrotate_accepts_the_lvsmon_snippet(tmp_path):
    # logrotate wants its configuration owned by the user and not writable by others.
    copy = tmp_path / "lvsmon"
    copy.write_text((DEPLOY / "logrotate-lvsmon").read_text())
    copy.chmod(0o644)
    result = subprocess.run(
        ["logrotate", "-d", "-s", str(tmp_path / "state"), str(copy)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # logrotate -d exits 0 even on an unknown option: its "error:" lines tell.
    assert "error" not in output.lower(), output
    assert "rotating pattern: /var/log/lvsmon.log  weekly (8 rotations)" in output, output


@pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslogd (Debian rsyslog) missing")
def test_rsyslogd_accepts_the_lvsmon_snippet(tmp_path):
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{tmp_path}")\n'
        f'include(file="{DEPLOY / "rsyslog-lvsmon.conf"}")\n'
    )
    result = subprocess.run(
        ["rsyslogd", "-N1", "-f", str(conf)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower(), result.stderr
