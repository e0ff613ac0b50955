"""`lvsmon run` logging to a real rsyslogd through the shipped deploy/ snippets.

rsyslogd runs with its own configuration: imuxsock on a socket in the lab's temp dir (not
/dev/log), deploy/rsyslog-lvsmon.conf included with its output file moved to the lab, a
catch-all file after it (what "stop" must keep lvsmon out of), and a file template that
writes each line's facility and severity. The daemon observes a keepalived pair in the
lab with [log] target = "syslog", facility = "local6"; the master change it sees must
land in the file as a local6.notice line. Then the shipped logrotate snippet rotates the
file for real and rsyslogd writes to the new one; a broken configuration file makes
`lvsmon run` exit 2 with every problem and log nothing.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.keepalived import keepalived_conf, kill_hard, spawn_keepalived, vrrp_instance

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
A4, B4, D4 = "10.33.0.11", "10.33.0.12", "10.33.0.30"
VIP = "10.33.0.100/24"
SHIPPED_LOG = "/var/log/lvsmon.log"
# "local6.notice lvsmon[1234] lvsmon.events: VRRP eth0 inet VRID 51: master ..."
TEMPLATE = "%syslogfacility-text%.%syslogseverity-text% %programname%[%procid%] %msg:2:$%\\n"


def start_rsyslogd(lab, namespace, socket_path: Path, lvsmon_log: Path, other_log: Path):
    snippet = (DEPLOY / "rsyslog-lvsmon.conf").read_text()
    action_file = f'file="{SHIPPED_LOG}"'
    assert snippet.count(action_file) == 1
    included = lab.tmpdir / "30-lvsmon.conf"
    included.write_text(snippet.replace(action_file, f'file="{lvsmon_log}"'))
    work = lab.tmpdir / "rsyslog-work"
    work.mkdir()
    conf = lab.tmpdir / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\n'
        f'template(name="withPriority" type="string" string="{TEMPLATE}")\n'
        'module(load="builtin:omfile" template="withPriority")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{socket_path}" CreatePath="on")\n'
        f'include(file="{included}")\n'
        f'*.* action(type="omfile" file="{other_log}")\n'
    )
    pid_file = lab.tmpdir / "rsyslogd.pid"
    process = namespace.spawn(["rsyslogd", "-n", "-f", conf, "-i", pid_file], name="rsyslogd")
    lab.wait_for(lambda: socket_path.exists() and pid_file.exists(), 15, what="rsyslogd socket")
    return process, pid_file


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_daemon_logs_to_rsyslog_with_facility_and_severity_and_rotates(lab):
    segment = lab.segment("vrrp")
    a, b, d = lab.namespace("a"), lab.namespace("b"), lab.namespace("d")
    segment.attach(a, [f"{A4}/24"])
    segment.attach(b, [f"{B4}/24"])
    segment.attach(d, [f"{D4}/24"])
    log_socket = lab.tmpdir / "log.sock"
    lvsmon_log, other_log = lab.tmpdir / "lvsmon.log", lab.tmpdir / "other.log"
    rsyslogd, rsyslogd_pid = start_rsyslogd(lab, d, log_socket, lvsmon_log, other_log)

    status_socket = lab.tmpdir / "run" / "status.sock"
    config = lab.tmpdir / "lvsmon.toml"
    config.write_text(
        f'[daemon]\nstatus_socket = "{status_socket}"\n'
        f'[log]\ntarget = "syslog"\nfacility = "local6"\nsyslog_socket = "{log_socket}"\n'
        '[observer]\ninterfaces = ["eth0"]\n'
        "[ipvs]\ninterval = 1\n"
        "[exporter]\nenabled = false\n"
    )
    daemon = d.spawn([sys.executable, "-m", "lvsmon", "run", "--config", config],
                     name="lvsmon-run", env={"PYTHONPATH": REPO})  # fmt: skip
    pid = daemon.pid
    prefix = f"lvsmon[{pid}] "

    def logged(level: str, logger: str, message: str) -> str | None:
        """The line of the lvsmon file for this severity, logger and message (a regex)."""
        pattern = rf"local6\.{level} {re.escape(prefix)}{re.escape(logger)}: {message}"
        return next((line for line in lines_of(lvsmon_log) if re.fullmatch(pattern, line)), None)

    lab.wait_for(lambda: logged("info", "lvsmon.daemon", rf"running \(pid {pid}\)"), 20,
                 what="'running' in the lvsmon log")  # fmt: skip
    # This kernel has no IPVS: the source is down, said once at warning.
    lab.wait_for(lambda: logged("warning", "lvsmon.events", "IPVS down: no IPVS in this kernel.*"),
                 20, what="IPVS down")  # fmt: skip

    def instance(priority: int) -> str:
        return vrrp_instance("V51", vrid=51, priority=priority, version=3, advert_int=0.5,
                             vips=[VIP])  # fmt: skip

    ka_a = spawn_keepalived(lab, a, keepalived_conf("node-a", [instance(150)]))
    first = lab.wait_for(
        lambda: logged("notice", "lvsmon.events",
                       rf"VRRP eth0 inet VRID 51: master none -> {re.escape(A4)} \(priority 150\)"),
        20, what="first master in the lvsmon log",
    )  # fmt: skip
    ka_b = spawn_keepalived(lab, b, keepalived_conf("node-b", [instance(100)]))
    # b hears a and stays backup; when a dies without a word, b takes over.
    lab.wait_for(lambda: "Entering BACKUP STATE" in ka_b.log(), 15, what="b backup")
    kill_hard(ka_a)
    # b's takeover and the end of a's last advertising run race: the observer may see
    # A -> B at once, or A -> none (a warning) and then none -> B.
    change = lab.wait_for(
        lambda: logged("notice", "lvsmon.events",
                       rf"VRRP eth0 inet VRID 51: master (?:{re.escape(A4)}|none) -> "
                       rf"{re.escape(B4)} \(priority 100\)"),
        30, what="master change in the lvsmon log",
    )  # fmt: skip

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.describe()
    lab.wait_for(lambda: logged("info", "lvsmon.daemon", "stopped"), 10, what="'stopped' logged")
    ka_b.stop()

    lines = lines_of(lvsmon_log)
    print("\n".join(lines))
    ours = [line for line in lines if line.startswith("local6.")]
    assert ours == lines, "only local6 goes to the lvsmon file"
    assert all(prefix in line for line in ours), "every line carries lvsmon[PID]"
    assert lines.index(first) < lines.index(change)
    assert sum(f"master none -> {A4} " in line for line in lines) == 1  # not every publish
    assert any(f"master {A4} -> " in line for line in lines)
    assert sum("IPVS down" in line for line in lines) == 1
    assert not [line for line in lines if line.startswith("local6.debug")]  # level = info
    assert "Traceback" not in lvsmon_log.read_text() and daemon.log() == ""  # nothing on stderr

    # "stop": nothing of lvsmon in the catch-all file; another facility goes there only.
    subprocess.run(["logger", "-u", str(log_socket), "-p", "user.notice", "-t", "othertool",
                    "another program"], check=True, timeout=10)  # fmt: skip
    lab.wait_for(lambda: any("othertool" in line for line in lines_of(other_log)), 10,
                 what="another facility in the catch-all file")  # fmt: skip
    assert not [line for line in lines_of(other_log) if "lvsmon[" in line]
    assert "othertool" not in lvsmon_log.read_text()

    # The shipped logrotate snippet, for the lab's file and rsyslogd: rsyslogd reopens.
    rotate_conf = lab.tmpdir / "logrotate-lvsmon"
    text = (DEPLOY / "logrotate-lvsmon").read_text().replace(SHIPPED_LOG, str(lvsmon_log))
    rotate_conf.write_text(text.replace("/usr/lib/rsyslog/rsyslog-rotate",
                                        f"kill -HUP $(cat {rsyslogd_pid})"))  # fmt: skip
    rotate_conf.chmod(0o644)
    state = lab.tmpdir / "logrotate.state"
    done = subprocess.run(["logrotate", "-f", "-s", str(state), str(rotate_conf)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0 and "error" not in done.stderr.lower(), done
    rotated = Path(f"{lvsmon_log}.1")
    assert rotated.read_text().splitlines() == lines  # delaycompress: .1 stays plain
    subprocess.run(["logger", "-u", str(log_socket), "-p", "local6.notice", "-t", "lvsmon",
                    "after rotation"], check=True, timeout=10)  # fmt: skip
    lab.wait_for(lambda: any("after rotation" in line for line in lines_of(lvsmon_log)), 10,
                 what="rsyslogd writing the new file after SIGHUP")  # fmt: skip
    assert "after rotation" not in rotated.read_text()

    # A broken configuration: exit 2, every problem on stderr, nothing logged, nothing made.
    broken = lab.tmpdir / "broken.toml"
    broken.write_text(
        config.read_text().replace("[ipvs]\ninterval = 1", "[ipvs]\ninterval = 0\ncolour = 1")
        .replace('facility = "local6"', 'facility = "local6"\nlevel = "loud"')
        .replace(str(status_socket), str(lab.tmpdir / "run2" / "status.sock"))
    )  # fmt: skip
    before = lvsmon_log.read_text()
    refused = d.spawn([sys.executable, "-m", "lvsmon", "run", "--config", broken],
                      name="lvsmon-broken", env={"PYTHONPATH": REPO})  # fmt: skip
    assert refused.wait(30) == 2, refused.describe()
    assert refused.log().splitlines() == [
        f'{broken}:6: [log] level: "loud" is not one of debug, info, notice, warning, error',
        f"{broken}:11: [ipvs] interval: 0 out of range 0.5..3600",
        f"{broken}:12: [ipvs] colour: unknown key (known: enabled, interval, source, "
        "procfs_root)",
    ]
    assert not (lab.tmpdir / "run2").exists()
    assert lvsmon_log.read_text() == before
    assert rsyslogd.alive
