"""The JSON-lines and RFC 5424 syslog sinks."""

import json
import re
import socket

import pytest

from lvsmon.errors import SnatError
from lvsmon.model import SnatConnection
from lvsmon.snat.sink_jsonl import JsonlSink
from lvsmon.snat.sink_syslog import SyslogSink
from lvsmon.snat.store_sqlite import Loss

S = 1_000_000_000
T0 = 1_800_000_000 * S

RECORD = SnatConnection(
    protocol="tcp", family="inet", inside_address="192.168.1.20", inside_port=51000,
    translated_address="10.0.0.5", translated_port=40001, start_ns=T0 + 123_456_789,
    end_ns=T0 + 5 * S, original_destination_address="10.0.0.100",
    original_destination_port=80, real_destination_address="10.0.1.12",
    real_destination_port=8080, conntrack_id=7, node="lb1", start_exact=True)

# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
RFC5424 = re.compile(rb"^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\d+) (\S+) "
                     rb"(\[.*?[^\\]\]) \xef\xbb\xbf(.*)$", re.S)


def test_jsonl_lines_and_reopen(tmp_path):
    path = tmp_path / "snat.jsonl"
    sink = JsonlSink(str(path))
    sink.write([RECORD], [RECORD], [Loss(T0, "lb1", "events_dropped", 3, "full")])
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["event"] for x in lines] == ["open", "close", "loss"]
    assert lines[1]["start"] == "2027-01-15T08:00:00.123456Z"
    assert lines[1]["start_ns"] == T0 + 123_456_789 and lines[1]["translated_port"] == 40001
    assert lines[2]["count"] == 3
    path.rename(tmp_path / "snat.jsonl.1")  # logrotate
    sink.reopen()
    sink.write([], [RECORD])
    assert len(path.read_text().splitlines()) == 1
    assert len((tmp_path / "snat.jsonl.1").read_text().splitlines()) == 3
    sink.close()


def test_jsonl_unwritable_is_an_error(tmp_path):
    with pytest.raises(SnatError, match="cannot open"):
        JsonlSink(str(tmp_path / "missing-dir" / "x.jsonl"))


def test_syslog_rfc5424(tmp_path):
    path = str(tmp_path / "log.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(2)
    sink = SyslogSink(path, "local3", hostname="lb1")
    sink.write([], [RECORD], [Loss(T0, "lb1", "events_dropped", 3, "full")])
    close = RFC5424.match(receiver.recv(4096))
    loss = RFC5424.match(receiver.recv(4096))
    assert close and loss
    assert int(close.group(1)) == 19 * 8 + 6  # local3.info
    assert close.group(2) == b"2027-01-15T08:00:05.000000Z"
    assert close.group(3) == b"lb1" and close.group(4) == b"lvsmon-snat"
    assert close.group(6) == b"close"
    assert b'inside="192.168.1.20:51000"' in close.group(7)
    assert b'translated="10.0.0.5:40001"' in close.group(7)
    assert b'real="10.0.1.12:8080"' in close.group(7)
    assert int(loss.group(1)) == 19 * 8 + 4 and loss.group(6) == b"loss"  # local3.warning
    sink.close()
    receiver.close()


def test_syslog_without_listener_is_an_error(tmp_path):
    sink = SyslogSink(str(tmp_path / "nobody.sock"))
    with pytest.raises(SnatError, match="syslog"):
        sink.write([RECORD], [])


def test_unknown_facility():
    with pytest.raises(SnatError, match="facility"):
        SyslogSink("/dev/log", "local9")
