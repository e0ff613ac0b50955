"""lvsmon.config: the daemon's sections ([daemon], [log], [observer], [ipvs], [exporter],
[agentx], [keepalived]), every problem at once with its line, and the shipped example."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from lvsmon.config import (
    DEFAULT_BASE_OID,
    AgentxConfig,
    Config,
    ConfigError,
    ExporterConfig,
    KeepalivedConfig,
    LogConfig,
    load,
    parse,
    split_agentx_master,
    split_listen,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "lvsmon.toml"


def test_defaults():
    config = parse({})
    assert config.daemon.status_socket == "/run/lvsmon/status.sock"
    assert config.daemon.state_dir is None  # lvsmon.pool.resolve_state_dir decides
    assert config.log == LogConfig("stderr", "daemon", "info", "/dev/log")
    assert (config.observer.enabled, config.observer.interfaces) == (True, ())
    assert (config.observer.flap_threshold, config.observer.flap_window) == (3, 60.0)
    assert (config.ipvs.enabled, config.ipvs.interval, config.ipvs.source) == (True, 5.0, "auto")
    assert config.ipvs.procfs_root == "/proc"
    assert config.exporter == ExporterConfig(True, (":10573",), None)
    assert config.exporter.addresses == (("", 10573),)
    assert config.agentx == AgentxConfig(False, "/var/agentx/master", 5.0, 127, DEFAULT_BASE_OID)
    assert DEFAULT_BASE_OID == "1.3.6.1.4.1.8072.9999.9999.5866"
    assert config.keepalived == KeepalivedConfig(None, None)


def test_values(tmp_path):
    path = tmp_path / "lvsmon.toml"
    path.write_text(
        '[daemon]\nstatus_socket = "/tmp/x.sock"\nstate_dir = "/var/lib/lvsmon-drain"\n'
        '[log]\ntarget = "syslog"\nfacility = "local6"\nlevel = "notice"\n'
        'syslog_socket = "/run/systemd/journal/syslog"\n'
        '[observer]\nenabled = false\ninterfaces = ["eth0", "eth1"]\nflap_threshold = 5\n'
        "flap_window = 30\n"
        '[ipvs]\ninterval = 2\nsource = "procfs"\nprocfs_root = "/srv/saved"\n'
        '[exporter]\nenabled = true\nlisten = ["127.0.0.1:9999", "[::1]:9999", ":80"]\n'
        'web_config = "/etc/lvsmon/web.yml"\n'
        '[agentx]\nenabled = true\nmaster = "tcp:[::1]:705"\ntimeout = 3\npriority = 100\n'
        'base_oid = "1.3.6.1.4.1.99999"\n'
        '[keepalived]\nconfig = "/etc/keepalived/keepalived.conf"\nid = "lb1"\n'
        '[snat]\nnode = "lb1"\n'
    )
    config = load(path)
    assert config.daemon.status_socket == "/tmp/x.sock"
    assert config.daemon.state_dir == "/var/lib/lvsmon-drain"
    assert config.log == LogConfig("syslog", "local6", "notice", "/run/systemd/journal/syslog")
    assert config.observer.interfaces == ("eth0", "eth1") and not config.observer.enabled
    assert (config.observer.flap_threshold, config.observer.flap_window) == (5, 30.0)
    assert (config.ipvs.interval, config.ipvs.source) == (2.0, "procfs")
    assert config.ipvs.procfs_root == "/srv/saved"
    assert config.exporter.listen == ("127.0.0.1:9999", "[::1]:9999", ":80")
    assert config.exporter.addresses == (("127.0.0.1", 9999), ("::1", 9999), ("", 80))
    assert config.exporter.web_config == "/etc/lvsmon/web.yml"
    assert config.agentx == AgentxConfig(True, "tcp:[::1]:705", 3.0, 100, "1.3.6.1.4.1.99999")
    assert config.agentx.master_address == ("tcp", "::1", 705)
    assert config.keepalived == KeepalivedConfig("/etc/keepalived/keepalived.conf", "lb1")
    assert isinstance(config.agentx.timeout, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.log.level = "debug"


# (section text, expected problem after "FILE:LINE: "); the wrong value is on line 2.
CASES = [
    ("[deamon]\nx = 1", 1, "[deamon]: unknown section (sections: daemon, log, observer"),
    ("[daemon]\nsocket = '/x'", 2,
     "[daemon] socket: unknown key (known: status_socket, state_dir)"),
    ("[daemon]\nstate_dir = 'var/lib/lvsmon'", 2,
     '[daemon] state_dir: "var/lib/lvsmon" must be an absolute path'),
    ("[daemon]\nstatus_socket = 'status.sock'", 2,
     '[daemon] status_socket: "status.sock" must be an absolute path'),
    ("[daemon]\nstatus_socket = '/" + "x" * 120 + "'", 2,
     "[daemon] status_socket: too long for a unix socket (107 bytes at most)"),
    ("[log]\ntarget = 'file'", 2, '[log] target: "file" is not one of stderr, syslog'),
    ("[log]\nfacility = 'local8'", 2, '[log] facility: "local8" is not one of kern, user, mail'),
    ("[log]\nlevel = 'critical'", 2,
     '[log] level: "critical" is not one of debug, info, notice, warning, error'),
    ("[log]\nsyslog_socket = 'dev/log'", 2, '[log] syslog_socket: "dev/log" must be an absolute'),
    ("[log]\nlevel = 3", 2, "[log] level: 3 must be a string"),
    ("[observer]\nenabled = 'yes'", 2, '[observer] enabled: "yes" must be true or false'),
    ("[observer]\ninterfaces = 'eth0'", 2, '[observer] interfaces: "eth0" must be a list'),
    ("[observer]\nflap_threshold = 0", 2, "[observer] flap_threshold: 0 out of range 1..1000"),
    ("[ipvs]\ninterval = 0.1", 2, "[ipvs] interval: 0.1 out of range 0.5..3600"),
    ("[ipvs]\nsource = 'ipvsadm'", 2,
     '[ipvs] source: "ipvsadm" is not one of auto, netlink, procfs'),
    ("[ipvs]\nprocfs_root = 'proc'", 2, '[ipvs] procfs_root: "proc" must be an absolute path'),
    ("ipvs = []", 1, "[ipvs]: must be a table, not []"),
    ("[exporter]\nenabled = 1", 2, "[exporter] enabled: 1 must be true or false"),
    ("[exporter]\nlisten = ':10573'", 2, '[exporter] listen: ":10573" must be a list'),
    ("[exporter]\nlisten = []", 2,
     "[exporter] listen: empty: give an address, or set enabled = false"),
    ("[exporter]\nlisten = ['10573']", 2, '[exporter] listen: "10573": not "ADDRESS:PORT"'),
    ("[exporter]\nlisten = [':0']", 2, '[exporter] listen: ":0": port 0 is not 1..65535'),
    ("[exporter]\nlisten = [':http']", 2, '[exporter] listen: ":http": port http is not 1..6'),
    ("[exporter]\nlisten = ['::1:80']", 2,
     '[exporter] listen: "::1:80": an IPv6 address goes in brackets: [ADDRESS]:PORT'),
    ("[exporter]\nlisten = ['[10.0.0.1]:80']", 2,
     '[exporter] listen: "[10.0.0.1]:80": 10.0.0.1 in brackets is not an IPv6 address'),
    ("[exporter]\nlisten = ['localhost:80']", 2,
     '[exporter] listen: "localhost:80": localhost is not an IP address (names are not looked'),
    ("[exporter]\nlisten = [':80', ':80']", 2, '[exporter] listen: ":80" given twice'),
    ("[exporter]\nlisten = [80]", 2, '[exporter] listen: 80 must be a string "ADDRESS:PORT"'),
    ("[exporter]\nweb_config = 'web.yml'", 2,
     '[exporter] web_config: "web.yml" must be an absolute path'),
    ("[agentx]\nmaster = 'master'", 2,
     '[agentx] master: "master": must be an absolute unix socket path or "tcp:HOST:PORT"'),
    ("[agentx]\nmaster = 'tcp:localhost'", 2, '[agentx] master: "tcp:localhost": not "tcp:'),
    ("[agentx]\nmaster = 'tcp:localhost:99999'", 2,
     '[agentx] master: "tcp:localhost:99999": port 99999 is not 1..65535'),
    ("[agentx]\ntimeout = 0.5", 2, "[agentx] timeout: 0.5 out of range 1..255"),
    ("[agentx]\ntimeout = 256", 2, "[agentx] timeout: 256 out of range 1..255"),
    ("[agentx]\npriority = 0", 2, "[agentx] priority: 0 out of range 1..255"),
    ("[agentx]\npriority = 1.5", 2, "[agentx] priority: 1.5 must be an integer"),
    ("[agentx]\nbase_oid = '1'", 2, '[agentx] base_oid: "1" is not a dotted numeric OID'),
    ("[agentx]\nbase_oid = '1.3.x'", 2, '[agentx] base_oid: "1.3.x" is not a dotted'),
    ("[agentx]\nbase_oid = '3.6.1'", 2, '[agentx] base_oid: "3.6.1" is not a dotted'),
    ("[agentx]\nbase_oid = '.1.3.6'", 2, '[agentx] base_oid: ".1.3.6" is not a dotted'),
    ("[keepalived]\nconfig = 'keepalived.conf'", 2,
     '[keepalived] config: "keepalived.conf" must be an absolute path'),
    ("[keepalived]\nid = ''", 2, '[keepalived] id: "" must be a non-empty word'),
    ("[keepalived]\npid = 1", 2, "[keepalived] pid: unknown key (known: config, id)"),
    ("[vrrp]\ninstances = []", 2, "[vrrp] instances: unknown key (known: instance)"),
    ("[vrrp]\ninstance = 1", 2, "[vrrp] instance: 1 must be a list"),
    ("interval = 5", 1, "[interval]: unknown key outside a section (sections: daemon, log"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), CASES, ids=lambda x: str(x)[:40])
def test_each_problem_names_file_line_section_and_key(tmp_path, text, line, message):
    path = tmp_path / "lvsmon.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    (problem,) = raised.value.problems
    assert problem.startswith(f"{path}:{line}: {message}"), problem
    assert raised.value.exit_code == 2


def test_every_problem_of_the_file_at_once(tmp_path):
    """The cases above in one file (one per key): each found at its own line, in line order."""
    sections: dict[str, dict[str, tuple[str, int, str]]] = {}
    for text, line, message in CASES:
        header, _, body = text.partition("\n")
        if body:  # the cases without a header cannot share a file with a section
            key = body.partition(" =")[0]
            sections.setdefault(header, {}).setdefault(key, (body, line, message))
    lines, expected = [], []
    for header, bodies in sections.items():
        lines.append(header)
        header_line = len(lines)
        for body, line, message in bodies.values():
            lines.append(body)
            expected.append((header_line if line == 1 else len(lines), message))
    path = tmp_path / "lvsmon.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    found = raised.value.problems
    assert len(found) == len(expected) > 20, "\n".join(found)
    for problem, (line, message) in zip(found, expected, strict=True):
        assert problem.startswith(f"{path}:{line}: {message}"), (problem, line, message)
    assert str(raised.value).splitlines() == list(found)


def test_a_bad_value_is_not_reported_twice(tmp_path):
    path = tmp_path / "lvsmon.toml"
    path.write_text("[agentx]\nmaster = 'x'\n[exporter]\nlisten = [':0']\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert len(raised.value.problems) == 2


def test_listen_and_master_parsers():
    assert split_listen("[2001:db8::1]:443") == ("2001:db8::1", 443)
    assert split_listen("0.0.0.0:1") == ("0.0.0.0", 1)
    with pytest.raises(ValueError, match="port"):
        split_listen("[::1]:")
    assert split_agentx_master("/var/agentx/master") == ("unix", "/var/agentx/master", None)
    assert split_agentx_master("tcp:localhost:705") == ("tcp", "localhost", 705)
    assert split_agentx_master("tcp:127.0.0.1:705") == ("tcp", "127.0.0.1", 705)


def test_example_config_loads_and_its_commented_instance_is_valid():
    config = load(EXAMPLE)
    assert config == parse({}, str(EXAMPLE))  # the example shows the defaults
    # Uncommenting the [[vrrp.instance]] block gives a valid participant.
    lines = EXAMPLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line == "# [[vrrp.instance]]")
    uncommented = "\n".join(
        line[2:] for line in lines[start:] if line.startswith("# ") and not line.startswith("#  ")
    )
    document = tomllib.loads(uncommented)
    document["vrrp"]["instance"][0].pop("auth_pass")  # v2 only; the example says so
    (instance,) = parse(document).vrrp_instances
    assert instance.name == "web" and instance.tracks[0].weight == -60


def test_example_config_shows_every_key_of_every_section():
    text = EXAMPLE.read_text()
    for section in dataclasses.fields(Config):
        if section.name in ("path", "vrrp_instances", "snat_status_file"):
            continue
        assert f"[{section.name}]" in text, section.name
        for key in dataclasses.fields(section.default):
            assert f"\n{key.name} = " in text or f"\n# {key.name} = " in text, (section, key)
