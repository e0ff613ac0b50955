"""Values, OIDs and AgentxSettings: limits from pysnmp's SMI types, clear errors for bad input."""

import pytest
from pysnmp.proto import rfc1902, rfc1905

from lvsmon.errors import UsageError
from lvsmon_snmp.agentx import AgentxSettings, OidError, Subtree, SubtreeError, parse_oid
from lvsmon_snmp.agentx.values import SnmpValueError, Value, ValueType


@pytest.mark.parametrize(("make", "low", "high"), [
    (Value.integer32, -(2**31), 2**31 - 1),
    (Value.counter32, 0, 2**32 - 1),
    (Value.gauge32, 0, 2**32 - 1),
    (Value.time_ticks, 0, 2**32 - 1),
    (Value.counter64, 0, 2**64 - 1),
])  # fmt: skip
def test_integer_ranges(make, low, high):
    assert make(low).data == low and make(high).data == high
    for outside in (low - 1, high + 1):
        with pytest.raises(SnmpValueError, match="outside"):
            make(outside)
    with pytest.raises(SnmpValueError):
        make(True)
    with pytest.raises(SnmpValueError):
        make(1.5)


def test_ranges_agree_with_pysnmp():
    """What we accept, pysnmp accepts, and one past the edge neither does."""
    for make, smi, low, high in [(Value.integer32, rfc1902.Integer32, -(2**31), 2**31 - 1),
                                 (Value.counter32, rfc1902.Counter32, 0, 2**32 - 1),
                                 (Value.counter64, rfc1902.Counter64, 0, 2**64 - 1)]:
        for number in (low, high):
            assert Value.from_pysnmp(smi(make(number).data)) == make(number)
        with pytest.raises(Exception):  # noqa: B017 - pyasn1's own error type
            smi(high + 1)


def test_octet_strings():
    assert Value.octet_string("é").data == "é".encode()
    assert Value.octet_string(bytearray(b"ab")).data == b"ab"
    assert len(Value.octet_string(bytes(65535)).data) == 65535
    with pytest.raises(SnmpValueError, match="65536 bytes"):
        Value.octet_string(bytes(65536))
    assert Value.ip_address("192.0.2.7").data == bytes([192, 0, 2, 7])
    with pytest.raises(SnmpValueError, match="IPv4 only"):
        Value.ip_address("2001:db8::1")
    with pytest.raises(SnmpValueError):
        Value.ip_address(b"\1\2\3")


def test_object_identifiers():
    assert Value.object_identifier(".1.3.6.1").data == (1, 3, 6, 1)
    assert parse_oid([1, 3, 6]) == (1, 3, 6)
    for bad in ("", "1..3", "1.3.x", "1.-3", [1, "3"], tuple(range(129)), (1, 2**32)):
        with pytest.raises(OidError):
            parse_oid(bad)
    with pytest.raises(SnmpValueError):
        Value.object_identifier("1.3.six")


def test_exceptions_and_null_carry_no_data():
    for kind in (ValueType.NULL, ValueType.NO_SUCH_OBJECT, ValueType.NO_SUCH_INSTANCE,
                 ValueType.END_OF_MIB_VIEW):
        assert Value(kind).data is None
        with pytest.raises(SnmpValueError):
            Value(kind, 0)
    assert Value(ValueType.END_OF_MIB_VIEW).is_exception
    assert not Value.null().is_exception


def test_pysnmp_round_trip():
    samples = [Value.integer32(-3), Value.octet_string(b"\0x"), Value.null(),
               Value.object_identifier("1.3.6.1.4.1.8072"), Value.ip_address("10.1.2.3"),
               Value.counter32(5), Value.gauge32(6), Value.time_ticks(7), Value.opaque(b"\x01"),
               Value.counter64(2**63)]
    for value in samples:
        assert Value.from_pysnmp(value.to_pysnmp()) == value, value
    assert Value.from_pysnmp(rfc1902.Unsigned32(9)) == Value.gauge32(9)
    assert Value(ValueType.NO_SUCH_INSTANCE).to_pysnmp() is rfc1905.noSuchInstance
    with pytest.raises(SnmpValueError, match="no AgentX type"):
        Value.from_pysnmp("text")


def test_settings_defaults_and_errors():
    settings = AgentxSettings()
    assert (settings.enabled, settings.master, settings.priority) == (False, "/var/agentx/master",
                                                                      127)
    assert settings.address.path == "/var/agentx/master" and not settings.address.is_tcp
    assert settings.base == parse_oid(settings.base_oid)
    assert settings.open_timeout == 5
    tcp = AgentxSettings(master="tcp:127.0.0.1:705")
    assert (tcp.address.host, tcp.address.port, str(tcp.address)) == ("127.0.0.1", 705,
                                                                      "tcp:127.0.0.1:705")
    assert AgentxSettings(master="tcp:[::1]:705").address.host == "::1"
    assert AgentxSettings(master="unix:/run/agentx").address.path == "/run/agentx"
    assert AgentxSettings(timeout=0.3).open_timeout == 1
    for bad in [dict(master="tcp:host"), dict(master="tcp:h:0"), dict(master="relative/sock"),
                dict(master=""), dict(priority=0), dict(priority=256), dict(priority=True),
                dict(timeout=0), dict(timeout="5"), dict(base_oid="1.3.x"),
                dict(enabled="yes"), dict(ping_interval=0)]:
        with pytest.raises(UsageError, match=r"\[agentx\]"):
            AgentxSettings(**bad)


def test_subtrees():
    assert str(Subtree("1.3.6.1.2.1.2.2.1.1.7", 10, 22)) == "1.3.6.1.2.1.2.2.1.[1-22].7"
    assert Subtree((1, 3, 6)) == Subtree("1.3.6")
    with pytest.raises(SubtreeError):
        Subtree((1, 3), range_subid=3, upper_bound=9)
    with pytest.raises(SubtreeError):
        Subtree((1, 3, 6), range_subid=3, upper_bound=5)  # below the range's start


def test_settings_from_the_config_table():
    from types import SimpleNamespace

    table = SimpleNamespace(enabled=True, master="tcp:[::1]:705", timeout=3.0, priority=100,
                            base_oid="1.3.6.1.4.1.8072.9999.9999.5866")
    settings = AgentxSettings.from_config(table, ping_interval=4.0)
    assert (settings.enabled, settings.address.host, settings.address.port) == (True, "::1", 705)
    assert (settings.timeout, settings.priority, settings.ping_interval) == (3.0, 100, 4.0)
    assert settings.base == AgentxSettings().base
