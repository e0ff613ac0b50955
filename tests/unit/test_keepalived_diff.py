"""lvsmon.keepalived.diff.compare and lvsmon.keepalived.expect on files read by the real
reader and tables built by hand: every finding kind, groups, firewall marks, and what the
observer is handed."""

from __future__ import annotations

import pytest

from lvsmon.keepalived import read_config
from lvsmon.keepalived.diff import MAX_SERVICES_PER_MEMBER, compare, configured_services
from lvsmon.keepalived.expect import expectations
from lvsmon.model import IpvsTable, RealServer, ServiceKey, VirtualService
from lvsmon.model.drift import (
    REAL_SERVER_ABSENT,
    REAL_SERVER_UNCONFIGURED,
    REAL_SERVER_WEIGHT_ZERO,
    SERVICE_MISSING,
    SERVICE_UNCONFIGURED,
    SORRY_SERVER_SERVING,
    WEIGHT_CHANGED,
)

CONF = """\
vrrp_script chk {
    script "/bin/true"
    weight -20
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 2
    virtual_ipaddress {
        10.0.0.100/24
    }
    track_script {
        chk
    }
}
vrrp_instance VI_U {
    virtual_router_id 52
    priority 100
    unicast_src_ip 10.9.0.1
    unicast_peer {
        10.9.0.2
    }
    virtual_ipaddress {
        10.0.0.200
    }
}
virtual_server_group WEB {
    10.0.0.1-2 80
    fwmark 7
}
virtual_server group WEB {
    protocol TCP
    quorum 2
    sorry_server 10.0.9.9 80
    real_server 10.0.1.1 80 {
        weight 2
    }
    real_server 10.0.1.2 80 {
        weight 1
    }
}
virtual_server 10.0.0.5 443 {
    protocol TCP
    real_server 10.0.1.1 443 {
        weight 4
    }
}
"""


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "keepalived.conf"
    path.write_text(CONF)
    return read_config(str(path), "lb1")


def service(key: ServiceKey, *servers: tuple[str, int, int]) -> VirtualService:
    return VirtualService(key, "wlc", real_servers=tuple(
        RealServer(address, port, "masq", weight, 0, 0) for address, port, weight in servers))


def tcp(address: str, port: int) -> ServiceKey:
    return ServiceKey("tcp", "inet", address, port)


def kinds(diff) -> list[tuple[str, str, str | None]]:
    return [(f.kind, f.service, f.real_server) for f in diff.findings]


def test_a_group_makes_one_service_per_address_and_per_mark(conf):
    made = [(vs.label, str(key)) for vs, key in configured_services(conf)]
    assert made == [("group WEB", "tcp:10.0.0.1:80"), ("group WEB", "tcp:10.0.0.2:80"),
                    ("group WEB", "fwm:7"), ("tcp:10.0.0.5:443", "tcp:10.0.0.5:443")]


def test_every_kind_of_finding(conf):
    table = IpvsTable("netlink", 5.0, (
        service(tcp("10.0.0.1", 80), ("10.0.1.1", 80, 2), ("10.0.1.2", 80, 1)),  # as configured
        service(tcp("10.0.0.2", 80), ("10.0.1.1", 80, 0), ("10.0.9.9", 80, 1),
                ("10.0.1.7", 80, 1)),  # 10.0.1.2 absent, sorry serving, one unconfigured
        service(ServiceKey("fwm", "inet", fwmark=7), ("10.0.1.1", 80, 5), ("10.0.1.2", 80, 1)),
        service(tcp("10.0.0.6", 80), ("10.0.1.1", 80, 1)),  # not configured
    ))  # tcp:10.0.0.5:443 missing
    diff = compare(conf, table)
    assert kinds(diff) == [
        (REAL_SERVER_WEIGHT_ZERO, "tcp:10.0.0.2:80", "10.0.1.1:80"),
        (REAL_SERVER_ABSENT, "tcp:10.0.0.2:80", "10.0.1.2:80"),
        (REAL_SERVER_UNCONFIGURED, "tcp:10.0.0.2:80", "10.0.1.7:80"),
        (SORRY_SERVER_SERVING, "tcp:10.0.0.2:80", "10.0.9.9:80"),
        (WEIGHT_CHANGED, "fwm:7", "10.0.1.1:80"),
        (SERVICE_MISSING, "tcp:10.0.0.5:443", None),
        (SERVICE_UNCONFIGURED, "tcp:10.0.0.6:80", None),
    ]
    sorry = diff.service("tcp:10.0.0.2:80")
    assert sorry.sorry_serving and sorry.quorum == 2 and sorry.virtual_server == "group WEB"
    assert [rs.real_server for rs in sorry.not_serving] == ["10.0.1.1:80", "10.0.1.2:80"]
    assert diff.findings[3].detail == (
        "tcp:10.0.0.2:80: sorry server 10.0.9.9:80 serving (quorum 2 lost); not serving: "
        "10.0.1.1:80 (weight 0), 10.0.1.2:80 (absent)")
    assert diff.findings[4].detail.startswith("10.0.1.1:80 of fwm:7: weight 5, configured 2")
    assert diff.findings[5].detail.startswith("tcp:10.0.0.5:443: configured (")
    assert diff.service("tcp:10.0.0.1:80").findings() == []
    assert diff.unconfigured_services == ("tcp:10.0.0.6:80",)


def test_an_empty_table_misses_every_configured_service(conf):
    diff = compare(conf, IpvsTable("procfs", 1.0, ()))
    assert {kind for kind, _, _ in kinds(diff)} == {SERVICE_MISSING}
    assert len(diff.findings) == 4


def test_a_long_member_range_is_cut_with_a_warning(tmp_path):
    path = tmp_path / "keepalived.conf"
    path.write_text("virtual_server_group BIG {\n    2001:db8::1-ffff 80\n}\n"
                    "virtual_server group BIG {\n    protocol TCP\n"
                    "    real_server 2001:db8:1::1 80 {\n        weight 1\n    }\n}\n")
    diff = compare(read_config(str(path), "lb1"), IpvsTable("netlink", 1.0, ()))
    assert len(diff.services) == MAX_SERVICES_PER_MEMBER
    (warning,) = diff.warnings
    assert f"only its first {MAX_SERVICES_PER_MEMBER} of 65535 addresses compared" in warning


def test_expectations_for_the_observer(conf):
    multicast, unicast = expectations(conf, {"eth0": ("10.0.0.11", "fe80::1"),
                                             "eth1": ("10.9.0.1",)})
    assert (multicast.instance, multicast.interface, multicast.family, multicast.vrid) == (
        "VI_1", "eth0", "inet", 51)
    assert multicast.vips == ("10.0.0.100",)  # as adverts carry them: no prefix
    assert multicast.advert_interval_centiseconds == 200
    assert multicast.own_addresses == ("10.0.0.11", "fe80::1")
    assert multicast.allows_priority(150) and multicast.allows_priority(130)
    assert not multicast.allows_priority(140)
    # Unicast without an interface: any of this node's addresses, and its unicast_src_ip.
    assert unicast.interface is None
    assert unicast.own_addresses == ("10.0.0.11", "10.9.0.1", "fe80::1")
