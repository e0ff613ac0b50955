"""Time and endpoint parsing of `lvsmon snat who/log`, and the one-line rendering."""

import pytest

from lvsmon.errors import UsageError
from lvsmon.model import SnatConnection
from lvsmon.snat.query import format_record, parse_endpoint, parse_protocol, parse_time

NOW = 1_795_000_000_000_000_000  # a fixed "now" in ns


@pytest.mark.parametrize(("text", "expected"), [
    ("1970-01-01T00:00:01Z", 1_000_000_000),
    ("1970-01-01T00:00:01", 1_000_000_000),  # no offset: UTC
    ("1970-01-01 00:00:01.25", 1_250_000_000),
    ("1970-01-01T01:00:01+01:00", 1_000_000_000),
    ("1970-01-01T00:00:01.000001Z", 1_000_001_000),
    ("2026-11-24T10:03:12Z", 1_795_514_592_000_000_000),
    ("@1.5", 1_500_000_000),
])
def test_absolute_times(text, expected):
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(("text", "seconds_ago"), [
    ("now", 0),
    ("10 minutes ago", 600),
    ("10 minute ago", 600),
    ("2h ago", 7200),
    ("1.5 hours ago", 5400),
    ("3 days ago", 3 * 86400),
    ("1 week ago", 604800),
    ("30s ago", 30),
    ("  10 Minutes Ago ", 600),
])
def test_relative_times(text, seconds_ago):
    assert parse_time(text, NOW) == NOW - seconds_ago * 1_000_000_000


@pytest.mark.parametrize("text", ["", "yesterday-ish", "10 fortnights ago", "2026-13-01",
                                  "@abc", "ago"])
def test_bad_times_are_usage_errors(text):
    with pytest.raises(UsageError) as caught:
        parse_time(text, NOW)
    assert "ISO 8601" in str(caught.value) or "unit" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.5:40001", ("10.0.0.5", 40001)),
    ("10.0.0.5", ("10.0.0.5", None)),
    ("[2001:db8::5]:40001", ("2001:db8::5", 40001)),
    ("[2001:db8::5]", ("2001:db8::5", None)),
    ("2001:db8::5", ("2001:db8::5", None)),
    ("2001:0db8:0::5", ("2001:db8::5", None)),  # normalised like the store's addresses
])
def test_endpoints(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["10.0.0.5:", "10.0.0.5:70000", "host:80", "[2001:db8::5",
                                  "[2001:db8::5]x80", "10.0.0.256:1"])
def test_bad_endpoints(text):
    with pytest.raises(UsageError):
        parse_endpoint(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("tcp", "tcp"), (" UDP ", "udp"), ("6", "tcp"), ("132", "sctp"), ("250", "250")])
def test_protocols(text, expected):
    assert parse_protocol(text) == expected


@pytest.mark.parametrize("text", ["tcpx", "256", "-1", ""])
def test_bad_protocols(text):
    with pytest.raises(UsageError, match="unknown protocol"):
        parse_protocol(text)


def test_port_required():
    with pytest.raises(UsageError, match="needs a port"):
        parse_endpoint("10.0.0.5", port_required=True)


def test_format_record_marks_approximate_and_lost_times():
    record = SnatConnection(
        protocol="tcp", family="inet", inside_address="192.168.1.20", inside_port=51000,
        translated_address="10.0.0.5", translated_port=40001, start_ns=1_000_000_000,
        end_ns=2_500_000_000, original_destination_address="10.0.0.100",
        original_destination_port=80, real_destination_address="10.0.1.12",
        real_destination_port=8080, conntrack_id=7, node="lb1", end_lost=True)
    line = format_record(record)
    assert line.startswith("1970-01-01T00:00:01.000000Z~ -> 1970-01-01T00:00:02.500000Z "
                           "(end lost, at latest)")
    assert "tcp 192.168.1.20:51000 as 10.0.0.5:40001 to 10.0.0.100:80 (real 10.0.1.12:8080)" \
        in line
    assert "[node lb1 zone 0 id 7]" in line
