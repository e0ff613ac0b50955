"""lvsmon.config: the daemon's [daemon], [observer] and [ipvs] sections."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lvsmon.config import ConfigError, load, parse


def test_defaults():
    config = parse({})
    assert config.daemon.status_socket == "/run/lvsmon/status.sock"
    assert (config.observer.enabled, config.observer.interfaces) == (True, ())
    assert (config.observer.flap_threshold, config.observer.flap_window) == (3, 60.0)
    assert (config.ipvs.enabled, config.ipvs.interval, config.ipvs.source) == (True, 5.0, "auto")


def test_values():
    config = parse({
        "daemon": {"status_socket": "/tmp/x.sock"},
        "observer": {"enabled": False, "interfaces": ["eth0", "eth1"], "flap_threshold": 5,
                     "flap_window": 30},
        "ipvs": {"interval": 2, "source": "procfs"},
    })  # fmt: skip
    assert config.daemon.status_socket == "/tmp/x.sock"
    assert config.observer.interfaces == ("eth0", "eth1") and not config.observer.enabled
    assert (config.observer.flap_threshold, config.observer.flap_window) == (5, 30.0)
    assert (config.ipvs.interval, config.ipvs.source) == (2.0, "procfs")


@pytest.mark.parametrize(
    "document, message",
    [
        ({"deamon": {}}, "unknown section [deamon]"),
        ({"daemon": {"socket": "/x"}}, "[daemon]: unknown key 'socket'"),
        ({"daemon": {"status_socket": "status.sock"}}, "must be an absolute path"),
        ({"observer": {"enabled": "yes"}}, "enabled 'yes' must be true or false"),
        ({"observer": {"interfaces": "eth0"}}, "interfaces 'eth0' must be a list"),
        ({"ipvs": {"interval": 0}}, "[ipvs]: interval 0 out of range 0.5..3600"),
        ({"ipvs": {"source": "ipvsadm"}}, "source 'ipvsadm' is not one of auto, netlink, procfs"),
        ({"ipvs": []}, "[ipvs] must be a table"),
    ],
)
def test_errors(document, message):
    with pytest.raises(ConfigError) as raised:
        parse(document, "lvsmon.toml")
    assert message in str(raised.value) and str(raised.value).startswith("lvsmon.toml: ")


def test_example_config_loads_and_its_commented_instance_is_valid():
    example = Path(__file__).resolve().parents[2] / "deploy" / "lvsmon.toml"
    config = load(example)
    assert config == parse({}, str(example))  # the example shows the defaults
    # Uncommenting the [[vrrp.instance]] block gives a valid participant.
    lines = example.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line == "# [[vrrp.instance]]")
    uncommented = "\n".join(
        line[2:] for line in lines[start:] if line.startswith("# ") and not line.startswith("#  ")
    )
    document = tomllib.loads(uncommented)
    document["vrrp"]["instance"][0].pop("auth_pass")  # v2 only; the example says so
    (instance,) = parse(document).vrrp_instances
    assert instance.name == "web" and instance.tracks[0].weight == -60
