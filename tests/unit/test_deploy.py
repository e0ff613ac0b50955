"""The files in deploy/ are valid for the real tools that read them."""

import grp
import importlib
import json
import os
import pwd
import re
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
    assert "SUCCESS: 12 rules found" in result.stdout


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


# -- Nagios / Icinga 2 definitions of the checks ---------------------------------------------

CHECKS = ("check_snat", "check_ipvs", "check_vrrp")


def plugin_options(name: str) -> set[str]:
    module = importlib.import_module(f"lvsmon_nagios.{name}")
    return set(module.make_parser()._option_string_actions)


def nrpe_commands() -> dict[str, list[str]]:
    commands = {}
    for line in (DEPLOY / "nrpe-lvsmon.cfg").read_text().splitlines():
        line = line.strip().removeprefix("# ")
        if line.startswith("command["):
            name, _, argv = line.removeprefix("command[").partition("]=")
            commands[name] = argv.split()
    return commands


def test_nrpe_commands_use_the_plugins_as_they_are():
    commands = nrpe_commands()  # the commented examples too
    assert set(CHECKS) <= set(commands)
    for name, argv in commands.items():
        program = Path(argv[0]).name
        assert argv[0] == f"/usr/bin/{program}" and program in CHECKS, (name, argv)
        options = {word for word in argv[1:] if word.startswith("-")}
        assert options <= plugin_options(program), (name, options - plugin_options(program))
        module = importlib.import_module(f"lvsmon_nagios.{program}")
        module.make_parser().parse_args(argv[1:])


def read_icinga_objects(path: Path) -> list[dict]:
    """icinga2.debug, the objects `icinga2 daemon -C` wrote: netstrings of JSON."""
    data, objects, pos = path.read_bytes(), [], 0
    while pos < len(data):
        colon = data.index(b":", pos)
        length = int(data[pos:colon])
        objects.append(json.loads(data[colon + 1 : colon + 1 + length]))
        pos = colon + 1 + length + 1  # the trailing ","
    return objects


@pytest.mark.skipif(shutil.which("icinga2") is None, reason="icinga2 (Debian icinga2) missing")
def test_icinga2_validates_the_check_commands_and_itl_conventions(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    (tmp_path / "icinga2.conf").write_text(
        f'include "{DEPLOY / "icinga2-lvsmon.conf"}"\n'
        'object Host "lb1" {\n'
        '  check_command = "check_ipvs"\n'
        '  vars.check_ipvs_service = [ "tcp:10.0.0.1:80", "fwm:7" ]\n'
        '  vars.check_ipvs_sorry = [ "10.0.0.250:80" ]\n'
        '  vars.check_ipvs_warning_available = "3:"\n'
        '}\n'
        'object Service "vrrp" {\n'
        '  host_name = "lb1"\n'
        '  check_command = "check_vrrp"\n'
        '  vars.check_vrrp_vrid = 51\n'
        '  vars.check_vrrp_expect_master = "10.0.0.11"\n'
        '  vars.check_vrrp_flap_warning = "3"\n'
        '  vars.check_vrrp_flap_window = 300\n'
        '}\n'
        'object Service "snat" {\n'
        '  host_name = "lb1"\n'
        '  check_command = "check_snat"\n'
        '  vars.check_snat_warning = "0"\n'
        '  vars.check_snat_verbose = true\n'
        '}\n')
    defines = [f"-DRunAsUser={user}", f"-DRunAsGroup={group}", f"-DCacheDir={cache}"] + [
        f"-D{name}={tmp_path}" for name in ("LogDir", "DataDir", "SpoolDir", "InitRunDir")]
    done = subprocess.run(["icinga2", "daemon", "-C", "-c", str(tmp_path / "icinga2.conf"),
                           *defines], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Instantiated 3 CheckCommands" in done.stdout, done.stdout

    commands = {o["name"]: o["properties"] for o in read_icinga_objects(cache / "icinga2.debug")
                if o["type"] == "CheckCommand"}
    assert set(commands) == set(CHECKS)
    for name, command in commands.items():
        assert command["command"] == [f"/usr/bin/{name}"]
        used = set()
        for option, argument in command["arguments"].items():
            assert option in plugin_options(name), (name, option)
            assert argument.get("description"), (name, option, "no description")
            macro = argument.get("set_if") or argument.get("value")
            match = re.fullmatch(rf"\$({name}_[a-z_]+)\$", macro or "")
            assert match, (name, option, f"{macro!r} is not one custom variable {name}_*")
            used.add(match[1])
            if option in ("--verbose", "-v"):  # a flag: set_if, no value
                assert "set_if" in argument and "value" not in argument, (name, option)
        assert set(command["vars"]) <= used, (name, set(command["vars"]) - used)


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
