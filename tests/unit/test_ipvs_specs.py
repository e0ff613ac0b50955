"""ipvsadm's spellings of services and real servers, as the CLI takes them."""

import pytest

from lvsmon.errors import UsageError
from lvsmon.ipvs import find_service, parse_real_server, parse_service
from lvsmon.model import IpvsTable, ServiceKey, VirtualService


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("tcp:10.0.0.1:80", ServiceKey("tcp", "inet", "10.0.0.1", 80)),
        ("udp:10.0.0.1:53", ServiceKey("udp", "inet", "10.0.0.1", 53)),
        ("sctp:192.0.2.7:3868", ServiceKey("sctp", "inet", "192.0.2.7", 3868)),
        ("TCP:10.0.0.1:0", ServiceKey("tcp", "inet", "10.0.0.1", 0)),
        (" tcp:10.0.0.1:443 ", ServiceKey("tcp", "inet", "10.0.0.1", 443)),
        ("tcp:[2001:db8::1]:80", ServiceKey("tcp", "inet6", "2001:db8::1", 80)),
        ("udp:[2001:DB8:0:0:0:0:0:1]:53", ServiceKey("udp", "inet6", "2001:db8::1", 53)),
        ("tcp:[::ffff:10.0.0.1]:80", ServiceKey("tcp", "inet6", "::ffff:a00:1", 80)),
        ("fwm:7", ServiceKey("fwm", "inet", fwmark=7)),
        ("FWM:0x1f", ServiceKey("fwm", "inet", fwmark=31)),
        ("fwm:4294967295", ServiceKey("fwm", "inet", fwmark=4294967295)),
        ("fwm6:7", ServiceKey("fwm", "inet6", fwmark=7)),
    ],
)
def test_service_spellings(spec, key):
    assert parse_service(spec) == key


@pytest.mark.parametrize("spec", ["tcp:10.0.0.1:80", "tcp:[2001:db8::1]:80", "fwm:7"])
def test_service_round_trips_through_its_text(spec):
    assert str(parse_service(spec)) == spec


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "expected PROTOCOL:ADDRESS:PORT"),
        ("10.0.0.1:80", "expected PROTOCOL:ADDRESS:PORT"),
        ("icmp:10.0.0.1:80", "unknown protocol"),
        ("tcp:10.0.0.1", "expected ADDRESS:PORT"),
        ("tcp:2001:db8::1:80", "IPv6 addresses in brackets"),
        ("tcp:10.0.0.300:80", "not an IPv4 address"),
        ("tcp:www.example.org:80", "not an IPv4 address"),
        ("tcp:[2001:db8::zz]:80", "not an IPv6 address"),
        ("tcp:[fe80::1%eth0]:80", "zone"),
        ("tcp:10.0.0.1:65536", "out of range"),
        ("tcp:10.0.0.1:http", "expected ADDRESS:PORT"),
        ("fwm:0", "out of range"),
        ("fwm:4294967296", "out of range"),
        ("fwm:seven", "not a number"),
        ("fwm:-1", "not a number"),
    ],
)
def test_bad_service_says_why_and_shows_the_form(spec, why):
    with pytest.raises(UsageError) as caught:
        parse_service(spec)
    assert why in caught.value.message
    assert "tcp:10.0.0.1:80" in caught.value.hint
    assert "fwm:7" in caught.value.hint
    assert "[2001:db8::1]" in caught.value.hint
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("10.0.0.2:80", ("10.0.0.2", 80)),
        ("10.0.0.2:0", ("10.0.0.2", 0)),
        ("[2001:db8::2]:80", ("2001:db8::2", 80)),
        ("[2001:0DB8:0000::0002]:8080", ("2001:db8::2", 8080)),
    ],
)
def test_real_server_spellings(spec, expected):
    assert parse_real_server(spec) == expected


@pytest.mark.parametrize(
    "spec", ["10.0.0.2", "2001:db8::2:80", "[2001:db8::2]", "10.0.0.2:99999", "host:80", ""]
)
def test_bad_real_server_shows_the_form(spec):
    with pytest.raises(UsageError) as caught:
        parse_real_server(spec)
    assert "10.0.0.2:80" in caught.value.hint
    assert "[2001:db8::2]:80" in caught.value.hint


def test_find_service_matches_a_mark_whose_family_procfs_does_not_know():
    from_procfs = VirtualService(ServiceKey("fwm", None, fwmark=7), "rr")
    table = IpvsTable("procfs", 0.0, services=(from_procfs,))
    assert find_service(table, parse_service("fwm:7")) is from_procfs
    assert find_service(table, parse_service("fwm:8")) is None
    assert find_service(table, parse_service("tcp:10.0.0.1:80")) is None
