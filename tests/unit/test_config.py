"""lvsmon.config: the [[vrrp.instance]] tables and their error messages."""

from __future__ import annotations

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


def instance(**values) -> dict:
    base = {"name": "web", "interface": "eth0", "vrid": 51, "vips": ["10.0.0.100/24"]}
    base.update(values)
    return {"vrrp": {"instance": [base]}}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"priority": 300}, "lvsmon.toml: instance web: priority 300 out of range 1..255"),
        ({"priority": True}, "instance web: priority True must be an integer"),
        ({"vrid": 0}, "instance web: vrid 0 out of range 1..255"),
        ({"vips": []}, "instance web: vips is required"),
        ({"vips": ["10.0.0.1", "fd00::1"]}, "vips mixes IPv4 and IPv6"),
        ({"vips": ["nonsense"]}, "vips: 'nonsense' is not an address"),
        ({"version": 2, "vips": ["fd00::1"]}, "version 2 is IPv4 only"),
        ({"version": 2, "advert_interval": 0.5}, "VRRPv2 sends whole seconds"),
        ({"auth_pass": "x"}, "auth_pass is VRRPv2 only"),
        ({"version": 2, "auth_pass": "123456789"}, "auth_pass must be 1..8 bytes"),
        ({"unicast_peers": ["fd00::2"]}, "unicast_peers: fd00::2 is not inet"),
        ({"vmac": True, "vips": ["fd00::1"]}, "vmac = true is IPv4 only"),
        ({"colour": "red"}, "instance web: unknown key 'colour'"),
        ({"track": [{"command": ["true"]}]}, "track track1: set weight"),
        ({"track": [{"command": "true", "weight": -5}]}, "command 'true' must be a list"),
        ({"priority": 255, "track": [{"command": ["true"], "weight": -5}]}, "address owner"),
    ],
)
def test_errors_name_file_instance_and_key(values, message):
    with pytest.raises(ConfigError) as caught:
        parse(instance(**values), "lvsmon.toml")
    assert message in str(caught.value)


def test_duplicates_and_file_errors(tmp_path):
    twice = {"vrrp": {"instance": [instance()["vrrp"]["instance"][0]] * 2}}
    with pytest.raises(ConfigError, match="name used twice"):
        parse(twice)
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[vrrp.instance]\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load(bad)
    assert parse({}).vrrp_instances == ()
