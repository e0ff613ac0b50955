"""check_ipvs on IPVS tables saved as procfs files, run as Nagios runs it (a process; its
stdout and exit code), every output read by the strict reader (tests.plugin_output).

The tables are written in the kernel's /proc/net/ip_vs format (ip_vs_info_seq_show()), the
same text `--source procfs` reads on a live director; tests/vm/guest/test_check_ipvs.py
runs the check against a real IPVS table, over netlink and procfs.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lvsmon.model import RealServer, ServiceKey, VirtualService
from lvsmon_nagios.check_ipvs import SorryServers, assess, sorry_spec
from tests.lab import nrpe
from tests.plugin_output import PluginRun, run_plugin

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "ipvs"
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3

WEB = "tcp:10.0.0.1:80"
DNS = "udp:10.0.0.1:53"
V6 = "tcp:[2001:db8::1]:443"


def hex_endpoint(address: str, port: int) -> str:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return f"{int(ip):08X}:{port:04X}"
    return f"[{ip.exploded}]:{port:04X}"


def ip_vs_text(services: dict[str, list[tuple[str, int, int, int, int]]]) -> str:
    """/proc/net/ip_vs for {service: [(address, port, weight, active, inactive)]}."""
    lines = ["IP Virtual Server version 1.2.1 (size=4096)",
             "Prot LocalAddress:Port Scheduler Flags",
             "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn"]
    for spec, real_servers in services.items():
        proto, _, rest = spec.partition(":")
        if proto == "fwm":
            lines.append(f"FWM  {int(rest):08X} rr ")
        else:
            address, _, port = rest.rpartition(":")
            endpoint = hex_endpoint(address.strip("[]"), int(port))
            lines.append(f"{proto.upper()}  {endpoint} wlc ")
        for address, port, weight, active, inactive in real_servers:
            lines.append(f"  -> {hex_endpoint(address, port)}      Masq    {weight:<6} "
                         f"{active:<10} {inactive:<10}")
    return "\n".join(lines) + "\n"


def procfs(tmp_path: Path, services: dict) -> Path:
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True, exist_ok=True)
    (root / "net" / "ip_vs").write_text(ip_vs_text(services))
    shutil.copy(FIXTURES / "ip_vs_stats", root / "net" / "ip_vs_stats")
    return root


HEALTHY = {
    WEB: [("10.0.1.1", 80, 3, 4, 10), ("10.0.1.2", 80, 2, 1, 5), ("10.0.1.3", 80, 1, 0, 2)],
    DNS: [("10.0.1.1", 53, 1, 0, 7), ("10.0.1.2", 53, 1, 0, 3)],
    V6: [("2001:db8::11", 443, 5, 2, 0)],
}


def check(root: Path | str, *args: str, **kwargs) -> PluginRun:
    return run_plugin([sys.executable, "-m", "lvsmon_nagios.check_ipvs", "--source", "procfs",
                       "--procfs-root", str(root), *args], timeout=60, cwd=REPO, **kwargs)


def values(run: PluginRun) -> dict[str, float]:
    return {label: perf.value for label, perf in run.output.perfdata.items()}


# -- states ------------------------------------------------------------------------------------


def test_healthy_table_is_ok_with_perfdata_for_every_service(tmp_path):
    run = check(procfs(tmp_path, HEALTHY))
    assert run.code == OK, run.stdout
    assert run.status_line == ("IPVS OK - 3 virtual services, 6 of 6 real servers available, "
                               "7 active connections")
    perf = run.output.perfdata
    assert perf[f"{WEB} available"].value == 3 and perf[f"{WEB} available"].max == 3
    assert perf[f"{WEB} available_percent"].unit == "%"
    assert values(run)[f"{WEB} active"] == 5 and values(run)[f"{WEB} inactive"] == 17
    assert values(run)[f"{V6} available"] == 1 and values(run)[f"{DNS} weight_zero"] == 0
    assert values(run)["services"] == 3
    assert f"'{WEB} available'=3;;;0;3" in run.stdout  # quoted: the label holds a space


def test_one_selected_service_gets_its_own_status_line(tmp_path):
    run = check(procfs(tmp_path, HEALTHY), "--service", V6)
    assert run.code == OK
    assert run.status_line == (f"IPVS OK - {V6}: 1 of 1 real server available (0 at weight 0), "
                               "2 active / 0 inactive connections")
    assert set(run.output.perfdata) == {f"{V6} {m}" for m in (
        "available", "available_percent", "weight_zero", "active", "inactive")} | {"services"}


def test_no_real_server_with_weight_is_critical_without_any_threshold(tmp_path):
    table = dict(HEALTHY, **{WEB: [("10.0.1.1", 80, 0, 3, 0), ("10.0.1.2", 80, 0, 0, 0)]})
    run = check(procfs(tmp_path, table))
    assert run.code == CRITICAL
    assert run.status_line == (f"IPVS CRITICAL - {WEB}: 0 of 2 real servers available "
                               "(all at weight 0)")
    # A threshold that would let 0 pass does not: no real server at all is never OK.
    assert check(procfs(tmp_path, table), "--service", WEB, "-w", "0:", "-c", "0:").code \
        == CRITICAL
    empty = check(procfs(tmp_path, {WEB: []}))
    assert empty.code == CRITICAL and "0 of 0 real servers available (no real servers)" \
        in empty.status_line


def test_weight_zero_against_thresholds(tmp_path):
    table = dict(HEALTHY, **{WEB: [("10.0.1.1", 80, 3, 4, 10), ("10.0.1.2", 80, 0, 1, 5),
                                   ("10.0.1.3", 80, 1, 0, 2)]})
    root = procfs(tmp_path, table)
    assert check(root).code == OK  # one of three drained: still serving
    run = check(root, "--service", WEB, "-w", "3:", "-c", "2:")
    assert run.code == WARNING
    assert run.status_line == (f"IPVS WARNING - {WEB}: 2 of 3 real servers available "
                               "(less than 3)")
    perf = run.output.perfdata[f"{WEB} available"]
    assert (perf.value, perf.warn, perf.crit, perf.min, perf.max) == (2, "3:", "2:", 0, 3)
    assert check(root, "--service", WEB, "-c", "3:").code == CRITICAL
    run = check(root, "--service", WEB, "--warning-weight-zero", "0")
    assert run.code == WARNING
    assert run.output.summary == f"{WEB}: 1 real server at weight 0 (more than 0)"
    run = check(root, "--service", WEB, "--warning-available-percent", "50:",
                "--critical-available-percent", "70:")
    assert run.code == CRITICAL
    assert run.output.summary == f"{WEB}: 66.7% of real servers available (less than 70)"
    assert run.output.perfdata[f"{WEB} available_percent"].value == 66.7
    # Every service is judged: the drained DNS server warns too.
    run = check(root, "--warning-weight-zero", "0")
    assert run.code == WARNING and run.output.summary.count("at weight 0") == 1


def test_active_connections_against_thresholds_and_inverted_ranges(tmp_path):
    root = procfs(tmp_path, HEALTHY)
    run = check(root, "--warning-active", "~:4", "--critical-active", "~:10")
    assert run.code == WARNING
    assert run.output.summary == f"{WEB}: 5 active connections (more than 4)"
    run = check(root, "--service", WEB, "--critical-active", "@1:9")
    assert run.code == CRITICAL and run.output.summary.endswith("(between 1 and 9)")
    assert run.output.perfdata[f"{WEB} active"].crit == "@1:9"


def test_only_the_sorry_server_with_weight(tmp_path):
    table = {WEB: [("10.0.1.1", 80, 0, 0, 3), ("10.0.1.2", 80, 0, 0, 0),
                   ("10.0.9.9", 80, 1, 2, 0)]}
    root = procfs(tmp_path, table)
    # Unnamed, the sorry server is a real server like any other.
    assert check(root).code == OK
    run = check(root, "--sorry", "10.0.9.9:80")
    assert run.code == CRITICAL
    assert run.status_line == (f"IPVS CRITICAL - {WEB}: 0 of 2 real servers available "
                               "(only the sorry server 10.0.9.9:80 has weight)")
    assert values(run)[f"{WEB} available"] == 0 and values(run)[f"{WEB} active"] == 2
    assert check(root, "--sorry", "10.0.9.9:80", "--sorry-state", "warning").code == WARNING
    assert check(root, "--sorry", f"{WEB}=10.0.9.9:80").code == CRITICAL
    assert check(root, "--sorry", f"{DNS}=10.0.9.9:80").code == OK  # another service's
    # While a real server has weight, the sorry server is only not counted.
    table[WEB][0] = ("10.0.1.1", 80, 1, 0, 3)
    run = check(procfs(tmp_path, table), "--sorry", "10.0.9.9:80", "-v")
    assert run.code == OK
    assert run.status_line == (f"IPVS OK - {WEB}: 1 of 2 real servers available (1 at weight "
                               "0), sorry server 10.0.9.9:80 has weight, 2 active / 3 inactive "
                               "connections")


def test_a_selected_service_that_does_not_exist_is_critical_and_named(tmp_path):
    run = check(procfs(tmp_path, HEALTHY), "--service", WEB, "--service", "tcp:10.0.0.9:8080")
    assert run.code == CRITICAL
    assert run.status_line == "IPVS CRITICAL - tcp:10.0.0.9:8080: no such virtual service"
    assert values(run)[f"{WEB} available"] == 3  # the one that exists is still measured


def test_firewall_mark_and_ipv6_spellings(tmp_path):
    table = {"fwm:7": [("10.0.1.1", 0, 1, 0, 0)], V6: HEALTHY[V6]}
    root = procfs(tmp_path, table)
    # procfs does not say a mark's family: fwm:7 and fwm6:7 both find it, named as asked.
    for spelling in ("fwm:7", "fwm6:7", "fwm:0x7"):
        run = check(root, "--service", spelling)
        assert run.code == OK, run.stdout
    assert "'fwm6:7 available'=1;;;0;1" in check(root, "--service", "fwm6:7").stdout
    assert check(root, "--service", "tcp:[2001:DB8:0::1]:443").code == OK  # normalised


def test_one_mark_in_both_families_from_procfs(tmp_path):
    """procfs prints both as "FWM 00000007": their real servers tell them apart."""
    ip_vs = ip_vs_text({"fwm:7": [("10.0.1.1", 0, 1, 0, 0)]}) + "".join(
        ip_vs_text({"fwm:7": [("2001:db8::11", 0, 0, 0, 0), ("2001:db8::12", 0, 2, 0, 0)]})
        .splitlines(keepends=True)[3:])
    root = procfs(tmp_path, {})
    (root / "net" / "ip_vs").write_text(ip_vs)
    run = check(root)
    assert run.code == OK
    assert values(run)["fwm:7 available"] == 1 and values(run)["fwm6:7 available"] == 1
    assert values(run)["fwm6:7 weight_zero"] == 1
    assert values(check(root, "--service", "fwm6:7"))["fwm6:7 weight_zero"] == 1
    assert values(check(root, "--service", "fwm:7"))["fwm:7 weight_zero"] == 0
    # Without real servers nothing tells them apart: the second keeps a name of its own.
    (root / "net" / "ip_vs").write_text(ip_vs_text({"fwm:7": []}) + "FWM  00000007 rr \n")
    run = check(root)
    assert run.code == CRITICAL and {"fwm:7 available", "fwm:7#2 available"} <= set(
        run.output.perfdata)


def test_an_empty_table_warns_unless_services_are_named(tmp_path):
    run = check(procfs(tmp_path, {}))
    assert run.code == WARNING
    assert run.status_line == "IPVS WARNING - 0 virtual services (the IPVS table is empty)"
    assert check(procfs(tmp_path, {}), "--service", WEB).code == CRITICAL


def test_verbose_output_lists_services_then_real_servers(tmp_path):
    table = dict(HEALTHY, **{DNS: [("10.0.1.1", 53, 0, 0, 7), ("10.0.1.2", 53, 1, 0, 3)]})
    root = procfs(tmp_path, table)
    run = check(root, "-v", "--warning-weight-zero", "0")
    assert run.code == WARNING
    assert run.output.long_text[0] == f"warning: {DNS}: 1 real server at weight 0 (more than 0)"
    assert f"{DNS}: 1 of 2 real servers available (1 at weight 0), 0 active / 10 inactive " \
           "connections" in run.output.long_text
    assert "read via procfs" in run.output.long_text
    assert not any("->" in line for line in run.output.long_text)
    run = check(root, "-vv")
    assert "  -> 10.0.1.1:53 weight 0, 0 active, 7 inactive" in run.output.long_text
    assert len(run.output.perfdata) == 16  # the same perfdata, after the long output


def test_the_saved_public_sample(tmp_path):
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True)
    for name in ("ip_vs", "ip_vs_stats"):
        shutil.copy(FIXTURES / name, root / "net" / name)
    run = check(root)
    assert run.code == CRITICAL  # its firewall-mark service has both real servers at 0
    assert run.output.summary == "fwm:268439552: 0 of 2 real servers available (all at weight 0)"
    assert values(run)["tcp:[2620::1]:80 available"] == 3


# -- UNKNOWN: one line on stdout, exit 3 -------------------------------------------------------


def one_line_unknown(run: PluginRun, *words: str) -> None:
    assert run.code == UNKNOWN, run.stdout
    assert run.stdout.count("\n") == 1 and run.stdout.startswith("IPVS UNKNOWN - "), run.stdout
    assert "Traceback" not in run.stdout
    for word in words:
        assert word in run.stdout, (word, run.stdout)


@pytest.mark.parametrize(("args", "words"), [
    (["--service", "tcp:10.0.0.1"], ["argument --service: bad service 'tcp:10.0.0.1'",
                                     "write it as tcp:10.0.0.1:80"]),
    (["--service", "icmp:10.0.0.1:80"], ["unknown protocol 'icmp'"]),
    (["--service", "tcp:[2001:db8::1:80"], ["bad service"]),
    (["--sorry", "10.0.0.1"], ["argument --sorry: bad real server '10.0.0.1'"]),
    (["-w", "1:2:3"], ["argument -w/--warning-available: bad range '1:2:3'"]),
    (["--critical-active", "10:5"], ["start 10 is greater than its end 5"]),
    (["--warning-weight-zero", "abc"], ["bad range 'abc'"]),
    (["-c", "@"], ["bad range '@'"]),
    (["--no-such-option"], ["unrecognized arguments: --no-such-option"]),
    (["--source", "snmp"], ["argument --source: invalid choice: 'snmp'"]),
    (["--sorry-state", "ok"], ["invalid choice: 'ok'"]),
    (["-t", "0"], ["0 is not a timeout"]),
    (["-t", "soon"], ["'soon' is not a whole number"]),
    (["--warn", "3:"], ["unrecognized arguments"]),  # no abbreviations
    (["stray"], ["unrecognized arguments: stray"]),
])
def test_bad_arguments_are_unknown_with_one_line(tmp_path, args, words):
    one_line_unknown(check(procfs(tmp_path, HEALTHY), *args), *words)


def test_a_procfs_root_without_ipvs_is_unknown(tmp_path):
    one_line_unknown(check(tmp_path / "nothing"), "no IPVS in this kernel",
                     f"{tmp_path / 'nothing'}/net/ip_vs does not exist")
    (tmp_path / "file").write_text("")
    one_line_unknown(check(tmp_path / "file"), "Not a directory")


def test_a_malformed_table_is_unknown_naming_file_and_line(tmp_path):
    root = procfs(tmp_path, HEALTHY)
    text = (root / "net" / "ip_vs").read_text().replace("Masq", "Magic", 1)
    (root / "net" / "ip_vs").write_text(text)
    one_line_unknown(check(root), f"{root}/net/ip_vs:5: unknown forwarding method 'Magic'")


def test_an_unreadable_procfs_root_is_unknown(tmp_path):
    root = procfs(tmp_path, HEALTHY)
    os.chmod(root / "net", 0)
    try:
        if os.geteuid() != 0:
            run = check(root)
        else:  # root reads anything: run as nobody, as an unprivileged nrpe would
            if nrpe.missing():
                pytest.skip(nrpe.missing())
            with tempfile.TemporaryDirectory() as bindir:
                os.chmod(bindir, 0o755)
                program = nrpe.plugin_program(Path(bindir), "check_ipvs")
                run = run_plugin(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                                  "--clear-groups", str(program), "--source", "procfs",
                                  "--procfs-root", str(root)], cwd="/")
    finally:
        os.chmod(root / "net", 0o755)
    one_line_unknown(run, f"cannot read {root}/net/ip_vs: permission denied")


def test_a_read_that_hangs_is_unknown_after_the_timeout(tmp_path):
    """A FIFO with no writer as ip_vs: open() blocks until -t ends the check."""
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True)
    os.mkfifo(root / "net" / "ip_vs")
    one_line_unknown(check(root, "-t", "1"), "timed out: no result within 1 s (-t 1)")


def test_help_and_version_go_to_stdout():
    done = subprocess.run([sys.executable, "-m", "lvsmon_nagios.check_ipvs", "--help"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0 and not done.stderr
    for words in ("--warning-available-percent", "--sorry [SERVICE=]ADDR:PORT",
                  "SERVICE available_percent", "only the sorry server", "Exit codes"):
        assert words in done.stdout, words
    done = subprocess.run([sys.executable, "-m", "lvsmon_nagios.check_ipvs", "-V"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0 and done.stdout.startswith("check_ipvs (lvsmon) ")


# -- the judgement itself ----------------------------------------------------------------------


def test_assess_counts_sorry_servers_apart():
    service = VirtualService(ServiceKey("tcp", "inet", "10.0.0.1", 80), "rr", real_servers=(
        RealServer("10.0.1.1", 80, "masq", 0, 1, 2),
        RealServer("10.0.1.2", 80, "masq", 4, 3, 0),
        RealServer("10.0.9.9", 80, "masq", 1, 5, 0),
    ))
    health = assess(service, frozenset({("10.0.9.9", 80)}))
    assert (health.real_servers, health.available, health.weight_zero) == (2, 1, 1)
    assert health.sorry_with_weight == ("10.0.9.9:80",) and not health.only_sorry
    assert (health.active_connections, health.inactive_connections) == (9, 2)
    assert health.available_percent == 50


def test_sorry_servers_apply_everywhere_or_to_their_service():
    web = VirtualService(ServiceKey("tcp", "inet", "10.0.0.1", 80), "rr")
    mark = VirtualService(ServiceKey("fwm", None, fwmark=7), "rr")  # as procfs reads it
    sorry = SorryServers.from_specs([sorry_spec("10.0.9.9:80"),
                                     sorry_spec("fwm6:7=[2001:db8::9]:80"),
                                     sorry_spec(f"{WEB}=10.0.9.8:80")])
    assert sorry.of(web) == {("10.0.9.9", 80), ("10.0.9.8", 80)}
    assert sorry.of(mark) == {("10.0.9.9", 80), ("2001:db8::9", 80)}


# -- keepalived.conf: its sorry servers, and drift from it -------------------------------------

KEEPALIVED_CONF = """\
global_defs {
  router_id lb1
}
virtual_server 10.0.0.1 80 {
  lb_algo wlc
  lb_kind NAT
  protocol TCP
  sorry_server 10.0.9.9 80
  real_server 10.0.1.1 80 {
    weight 3
    TCP_CHECK {
      connect_timeout 3
    }
  }
  real_server 10.0.1.2 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 3
    }
  }
}
"""
CONFIGURED = {WEB: [("10.0.1.1", 80, 3, 4, 10), ("10.0.1.2", 80, 2, 1, 5)]}


@pytest.fixture
def keepalived_conf(tmp_path) -> Path:
    path = tmp_path / "keepalived.conf"
    path.write_text(KEEPALIVED_CONF)
    return path


def test_a_table_as_keepalived_conf_configures_it_is_ok(tmp_path, keepalived_conf):
    run = check(procfs(tmp_path, CONFIGURED), "--keepalived-config", str(keepalived_conf), "-v")
    assert run.code == OK, run.stdout
    assert values(run)[f"{WEB} drift"] == 0 and "unconfigured" not in values(run)
    assert f"keepalived.conf: {keepalived_conf}" in run.output.long_text


def test_keepalived_conf_names_the_sorry_server_without_sorry(tmp_path, keepalived_conf):
    root = procfs(tmp_path, {WEB: [("10.0.9.9", 80, 1, 2, 0)]})
    assert check(root, "--no-keepalived").code == OK  # a real server like any other
    run = check(root, "--keepalived-config", str(keepalived_conf))
    assert run.code == CRITICAL, run.stdout
    assert run.output.summary.startswith(
        f"{WEB}: 0 of 2 real servers available (only the sorry server 10.0.9.9:80 has weight: "
        "quorum lost, down: 10.0.1.1:80 (absent), 10.0.1.2:80 (absent))")
    assert values(run)[f"{WEB} available"] == 0 and values(run)[f"{WEB} drift"] == 2
    soft = check(root, "--keepalived-config", str(keepalived_conf), "--sorry-state", "warning")
    assert soft.code == WARNING


def test_an_absent_real_server_counts_as_not_available_and_warns(tmp_path, keepalived_conf):
    root = procfs(tmp_path, {WEB: [("10.0.1.1", 80, 3, 4, 10)]})
    run = check(root, "--keepalived-config", str(keepalived_conf))
    assert run.code == WARNING, run.stdout
    assert run.output.summary == (f"10.0.1.2:80 of {WEB}: configured weight 2, not in the "
                                  "kernel (keepalived removes a real server whose check fails)")
    assert values(run)[f"{WEB} available"] == 1 and values(run)[f"{WEB} available_percent"] == 50
    # A threshold on the available ones sees the absent one as missing.
    assert check(root, "--keepalived-config", str(keepalived_conf), "-c", "2:").code == CRITICAL
    assert check(root, "--keepalived-config", str(keepalived_conf),
                 "--drift-state", "ok").code == OK


def test_weight_drift_and_unconfigured_services_warn(tmp_path, keepalived_conf):
    table = {WEB: [("10.0.1.1", 80, 5, 4, 10), ("10.0.1.2", 80, 2, 1, 5),
                   ("10.0.1.7", 80, 1, 0, 0)],
             DNS: [("10.0.1.1", 53, 1, 0, 7)]}
    run = check(procfs(tmp_path, table), "--keepalived-config", str(keepalived_conf), "-vv")
    assert run.code == WARNING, run.stdout
    assert run.output.summary == (
        f"10.0.1.1:80 of {WEB}: weight 5, configured 3 (changed by hand, or a dynamic weight); "
        f"10.0.1.7:80 of {WEB}: in the kernel (weight 1), not in keepalived.conf; "
        f"1 service not in keepalived.conf: {DNS}")
    assert values(run)[f"{WEB} drift"] == 2 and values(run)["unconfigured"] == 1
    assert f"not in keepalived.conf: {DNS}" in run.output.long_text
    assert check(procfs(tmp_path, table), "--keepalived-config", str(keepalived_conf),
                 "--drift-state", "critical").code == CRITICAL


def test_a_configured_service_missing_from_the_kernel_is_critical(tmp_path, keepalived_conf):
    run = check(procfs(tmp_path, {}), "--keepalived-config", str(keepalived_conf))
    assert run.code == CRITICAL, run.stdout
    assert run.output.summary.startswith(
        f"{WEB}: configured ({keepalived_conf}:4) but not in the kernel")
    # Named services are judged alone: the file adds none.
    run = check(procfs(tmp_path, HEALTHY), "--keepalived-config", str(keepalived_conf),
                "--service", DNS)
    assert run.code == OK, run.stdout


def test_keepalived_conf_from_lvsmon_toml(tmp_path, keepalived_conf):
    root = procfs(tmp_path, {WEB: [("10.0.9.9", 80, 1, 2, 0)]})
    toml = tmp_path / "lvsmon.toml"
    toml.write_text(f'[keepalived]\nconfig = "{keepalived_conf}"\n')
    run = check(root, "--config", str(toml))
    assert run.code == CRITICAL and "only the sorry server 10.0.9.9:80" in run.stdout
    assert check(root, "--config", str(toml), "--no-keepalived").code == OK
    # lvsmon.toml without [keepalived] config, or none at all: no keepalived.conf is read.
    toml.write_text("[ipvs]\n")
    assert check(root, "--config", str(toml)).code == OK
    assert check(root, "--config", str(tmp_path / "absent.toml")).code == OK
    # --keepalived-config wins over lvsmon.toml.
    toml.write_text(f'[keepalived]\nconfig = "{tmp_path / "absent.conf"}"\n')
    assert check(root, "--config", str(toml),
                 "--keepalived-config", str(keepalived_conf)).code == CRITICAL


def test_a_keepalived_conf_that_cannot_be_read_is_unknown(tmp_path, keepalived_conf):
    root = procfs(tmp_path, CONFIGURED)
    one_line_unknown(check(root, "--keepalived-config", str(tmp_path / "absent.conf")),
                     str(tmp_path / "absent.conf"))
    keepalived_conf.write_text(KEEPALIVED_CONF + "virtual_server 10.0.0.2 80 {\n")
    one_line_unknown(check(root, "--keepalived-config", str(keepalived_conf)), str(keepalived_conf))
    toml = tmp_path / "lvsmon.toml"
    toml.write_text("[keepalived]\nconfig = 7\n")
    one_line_unknown(check(root, "--config", str(toml)), str(toml))


def test_sorry_servers_from_keepalived_conf(keepalived_conf):
    from lvsmon.keepalived import read_config

    specs = SorryServers.from_conf(read_config(str(keepalived_conf), "lb1"))
    assert specs == ((ServiceKey("tcp", "inet", "10.0.0.1", 80), ("10.0.9.9", 80)),)
