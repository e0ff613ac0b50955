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
    assert "SUCCESS: 11 rules found" in result.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")
def test_prometheus_rules_unit_tests_pass():
    """Each alert fires on the series it is for, and not on the look-alikes (a preemption,
    a short graceful release, a drain during a deploy)."""
    tests = Path(__file__).with_name("promtool") / "lvsmon-rules.test.yml"
    result = subprocess.run(["promtool", "test", "rules", tests.name], cwd=tests.parent,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


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
