"""lvsmon.config: the daemon's [daemon], [observer] and [ipvs] sections."""

from __future__ import annotations

import pytest

from lvsmon.config import ConfigError, parse


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
