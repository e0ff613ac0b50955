"""lvsmon.config: the [[vrrp.instance]] tables and their error messages, with lines."""

from __future__ import annotations

import json

import pytest

from lvsmon.config import ConfigError, load, parse

GOOD = """
[[vrrp.instance]]
name = "web"
interface = "eth0"
vrid = 51
priority = 150
version = 2
advert_interval = 1
vips = ["10.0.0.100/24", "10.0.0.101"]
auth_pass = "secret12"
nopreempt = true
preempt_delay = 5
unicast_peers = ["10.0.0.12"]
notify = ["/usr/local/bin/notify", "--lvsmon"]

[[vrrp.instance.track]]
name = "nginx"
command = ["pgrep", "-x", "nginx"]
interval = 2
timeout = 0.5
weight = -60

[[vrrp.instance]]
interface = "eth0"
vrid = 52
vips = ["fd00::100/64"]
advert_interval = 0.5
"""


def test_good_config(tmp_path):
    path = tmp_path / "lvsmon.toml"
    path.write_text(GOOD)
    web, v6 = load(path).vrrp_instances
    assert (web.name, web.vrid, web.priority) == ("web", 51, 150)
    assert (web.version, web.family) == (2, "inet")
    assert web.vips == ("10.0.0.100/24", "10.0.0.101/32")
    assert web.preempt is False and web.preempt_delay == 5.0
    assert web.auth_pass == "secret12" and web.unicast_peers == ("10.0.0.12",)
    assert web.notify == ("/usr/local/bin/notify", "--lvsmon")
    (track,) = web.tracks
    assert (track.command, track.timeout, track.weight) == (("pgrep", "-x", "nginx"), 0.5, -60)
    assert (v6.name, v6.family, v6.priority, v6.version) == ("vrid52-eth0", "inet6", 100, 3)
    assert v6.advert_interval == 0.5 and v6.preempt is True


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


def instance_file(tmp_path, values: dict, tracks: list[dict] = ()):
    """A file with one instance (name web on eth0, VRID 51) changed by `values`; also
    returns the line of each key ("track1.weight" for those of the first track)."""
    table = {"name": "web", "interface": "eth0", "vrid": 51, "vips": ["10.0.0.100/24"]}
    table.update(values)
    lines, where = ["[[vrrp.instance]]"], {"[[vrrp.instance]]": 1}
    for key, value in table.items():
        lines.append(f"{key} = {toml_value(value)}")
        where[key] = len(lines)
    for number, track in enumerate(tracks, 1):
        lines.append("[[vrrp.instance.track]]")
        where[f"track{number}"] = len(lines)
        for key, value in track.items():
            lines.append(f"{key} = {toml_value(value)}")
            where[f"track{number}.{key}"] = len(lines)
    path = tmp_path / "lvsmon.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, where


def problems(path) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


@pytest.mark.parametrize(
    ("values", "line_of", "message"),
    [
        ({"priority": 300}, "priority", "[[vrrp.instance]] web: priority: 300 out of range 1..255"),
        ({"priority": True}, "priority", "web: priority: true must be an integer"),
        ({"vrid": 0}, "vrid", "[[vrrp.instance]] web: vrid: 0 out of range 1..255"),
        ({"vips": []}, "vips", "web: vips: required (at least one virtual address)"),
        ({"vips": ["10.0.0.1", "fd00::1"]}, "vips", "vips: mixes IPv4 and IPv6"),
        ({"vips": ["nonsense"]}, "vips", 'vips: "nonsense" is not an address'),
        ({"version": 2, "vips": ["fd00::1"]}, "version", "version: 2 is IPv4 only"),
        ({"version": 2, "advert_interval": 0.5}, "advert_interval", "VRRPv2 sends whole seconds"),
        ({"auth_pass": "x"}, "auth_pass", "auth_pass: VRRPv2 only"),
        ({"version": 2, "auth_pass": "123456789"}, "auth_pass", "auth_pass: must be 1..8 bytes"),
        ({"unicast_peers": ["fd00::2"]}, "unicast_peers", "unicast_peers: fd00::2 is not inet"),
        ({"unicast_source": "x"}, "unicast_source", 'unicast_source: "x" is not an IP address'),
        ({"vmac": True, "vips": ["fd00::1"]}, "vmac", "vmac: true is IPv4 only"),
        ({"family": "ipx"}, "family", 'family: "ipx" is not one of inet, inet6'),
        ({"family": "inet6"}, "vips", "vips: not all inet6 like family"),
        ({"colour": "red"}, "colour", "[[vrrp.instance]] web: colour: unknown key (known: name,"),
        ({"preempt_delay": -1}, "preempt_delay", "preempt_delay: -1 out of range 0..3600"),
        ({"notify": "/bin/notify"}, "notify", 'notify: "/bin/notify" must be a list'),
    ],
)
def test_instance_errors_name_file_line_section_and_key(tmp_path, values, line_of, message):
    path, where = instance_file(tmp_path, values)
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{where[line_of]}: [[vrrp.instance]] web: "), problem
    assert message in problem, problem


@pytest.mark.parametrize(
    ("track", "line_of", "message"),
    [
        ({"command": ["true"]}, "track1", "web/track1: weight: set weight (non-zero) or fault"),
        ({"command": "true", "weight": -5}, "track1.command", 'command: "true" must be a list'),
        ({"weight": -5}, "track1", "command: required (a list: program and arguments"),
        ({"command": ["true"], "weight": 300}, "track1.weight", "weight: 300 out of range"),
        ({"command": ["true"], "fault": True, "shell": "sh"}, "track1.shell", "shell: unknown"),
        ({"command": ["true", ""], "fault": True}, "track1.command", "element 2 (\"\") must be"),
    ],
)
def test_track_errors(tmp_path, track, line_of, message):
    path, where = instance_file(tmp_path, {}, [track])
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{where[line_of]}: [[vrrp.instance.track]] web/"), problem
    assert message in problem, problem


def test_an_address_owner_has_no_tracks(tmp_path):
    path, where = instance_file(tmp_path, {"priority": 255}, [{"command": ["true"], "weight": -5}])
    assert problems(path) == (
        f"{path}:{where['priority']}: [[vrrp.instance]] web: priority: "
        "255 (address owner) cannot have track commands",
    )


def test_every_problem_of_every_instance_at_once_in_line_order(tmp_path):
    path = tmp_path / "lvsmon.toml"
    path.write_text(
        "[[vrrp.instance]]\n"  # 1
        'name = "web"\n'
        'interface = "eth0"\n'
        "vrid = 0\n"  # 4
        "priority = 300\n"  # 5
        'vips = ["10.0.0.1", "bad"]\n'  # 6
        "[[vrrp.instance.track]]\n"  # 7
        'command = ["true"]\n'
        "weight = 999\n"  # 9
        "[[vrrp.instance.track]]\n"  # 10
        'name = "two"\n'
        "[[vrrp.instance]]\n"  # 12
        'name = "web"\n'  # 13
        "vrid = 7\n"
        'vips = ["10.0.0.2"]\n'
        "[[vrrp.instance]]\n"  # 16
        'name = "x"\n'
        'interface = "eth0"\n'
        "vrid = 8\n"
        'vips = ["10.0.0.3"]\n'
        "[[vrrp.instance]]\n"  # 21
        'name = "y"\n'
        'interface = "eth0"\n'
        "vrid = 8\n"  # 24
        'vips = ["10.0.0.4"]\n'
    )
    assert problems(path) == (
        f"{path}:4: [[vrrp.instance]] web: vrid: 0 out of range 1..255",
        f"{path}:5: [[vrrp.instance]] web: priority: 300 out of range 1..255",
        f'{path}:6: [[vrrp.instance]] web: vips: "bad" is not an address with an optional /prefix',
        f"{path}:9: [[vrrp.instance.track]] web/track1: weight: 999 out of range -254..254",
        f"{path}:10: [[vrrp.instance.track]] web/two: command: required (a list: program and "
        "arguments, no shell)",
        f"{path}:10: [[vrrp.instance.track]] web/two: weight: set weight (non-zero) or "
        "fault = true, or the track does nothing",
        f"{path}:12: [[vrrp.instance]] web: interface: required",
        f'{path}:13: [[vrrp.instance]] web: name: "web" is used by instance #1 too',
        f"{path}:24: [[vrrp.instance]] y: vrid: 8 on eth0 (inet) is configured by instance #3 too",
    )


def test_vips_in_a_multi_line_list_point_at_their_own_line(tmp_path):
    path = tmp_path / "lvsmon.toml"
    path.write_text(
        '[[vrrp.instance]]\nname = "web"\ninterface = "eth0"\nvrid = 1\n'
        'vips = [\n  "10.0.0.1",\n  "10.0.0.x",  # typo\n]\n'
    )
    assert problems(path) == (
        f'{path}:7: [[vrrp.instance]] web: vips: "10.0.0.x" is not an address with an optional '
        "/prefix",
    )


def test_inline_tables_are_located_too(tmp_path):
    path = tmp_path / "lvsmon.toml"
    path.write_text(
        "[vrrp]\ninstance = [\n"
        '  { name = "a", interface = "eth0", vrid = 1, vips = ["10.0.0.1"] },\n'
        '  { name = "b", interface = "eth0", vrid = 999, vips = ["10.0.0.2"],\n'
        '    track = [{ command = ["true"], weight = 0 }] },\n'
        "]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(path)  # an inline table spans one line in TOML 1.0, so the error above is TOML's
    assert caught.value.problems[0].startswith(f"{path}:4:")
    path.write_text(
        "[vrrp]\ninstance = [\n"
        '  { name = "a", interface = "eth0", vrid = 1, vips = ["10.0.0.1"] },\n'
        '  { name = "b", interface = "eth0", vrid = 999, vips = ["10.0.0.2"] },\n'
        "]\n"
        "ipvs = { interval = 0 }\n"
    )
    assert problems(path) == (
        f"{path}:4: [[vrrp.instance]] b: vrid: 999 out of range 1..255",
        f"{path}:6: [vrrp] ipvs: unknown key (known: instance)",
    )


def test_parsed_documents_without_text_name_the_file_only():
    document = {"vrrp": {"instance": [{"name": "web", "interface": "eth0", "vrid": 51,
                                       "vips": ["10.0.0.1"], "priority": 300}]}}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse(document, "lvsmon.toml")
    assert caught.value.problems == (
        "lvsmon.toml: [[vrrp.instance]] web: priority: 300 out of range 1..255",
    )
    assert parse({}).vrrp_instances == ()


def test_missing_unreadable_and_broken_files(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "missing.toml")
    assert caught.value.problems == (f"{tmp_path / 'missing.toml'}: no such file",)
    bad = tmp_path / "bad.toml"
    bad.write_text('[ipvs]\ninterval = 5\n[[vrrp.instance]\nname = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load(bad)
    # One problem, at tomllib's own line and column.
    assert caught.value.problems == (
        f"{bad}:3:16: not valid TOML: Expected ']]' at the end of an array declaration",
    )
    bad.write_bytes(b'[ipvs]\nsource = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path)  # a directory
