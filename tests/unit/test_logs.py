"""lvsmon.logs: stderr with journald priorities, syslog datagrams to a unix socket, NOTICE,
switching on reload, and stderr while the syslog socket is missing."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket

import pytest

from lvsmon import logs
from lvsmon.config import LogConfig

log = logging.getLogger("lvsmon.test")


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    logs.configure(LogConfig(), verbose=False)  # no -v left over from another test
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def receiver(tmp_path):
    """A datagram socket where syslogd's /dev/log would be."""
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield path, sock
    sock.close()


def ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.__class__.__module__ == "lvsmon.logs"]


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting now."""
    found = []
    sock.setblocking(False)
    try:
        while True:
            found.append(sock.recv(65536))
    except BlockingIOError:
        return found
    finally:
        sock.settimeout(5)


def test_syslog_datagrams_carry_facility_severity_time_and_ident(receiver):
    path, sock = receiver
    logs.configure(LogConfig(target="syslog", facility="local6", syslog_socket=str(path)))
    log.debug("not at info")
    log.info("info line")
    log.log(logs.NOTICE, "master %s -> %s", "10.0.0.1", "10.0.0.2")
    log.warning("warned")
    log.error("broke")
    datagrams = received(sock)
    pid = os.getpid()
    stamp = rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d"
    # local6 is facility 22: PRI = 22 * 8 + severity (info 6, notice 5, warning 4, error 3).
    for datagram, pri, text in zip(datagrams, (182, 181, 180, 179), (
            b"info line", b"master 10.0.0.1 -> 10.0.0.2", b"warned", b"broke"), strict=True):
        pattern = rb"<%d>%s lvsmon\[%d\]: lvsmon\.test: %s" % (pri, stamp, pid, re.escape(text))
        assert re.fullmatch(pattern, datagram), datagram


def test_level_and_verbose(receiver):
    path, sock = receiver
    settings = LogConfig(target="syslog", facility="daemon", level="notice",
                         syslog_socket=str(path))  # fmt: skip
    logs.configure(settings)
    log.info("routine")
    log.log(logs.NOTICE, "a state change")
    assert [d.split(b": ", 2)[-1] for d in received(sock)] == [b"a state change"]
    logs.configure(settings, verbose=True)
    log.debug("details")
    (datagram,) = received(sock)
    assert datagram.startswith(b"<31>") and datagram.endswith(b"details")  # daemon.debug
    logs.configure(dataclasses.replace(settings, facility="local0"))  # a reload keeps -v
    log.debug("more details")
    (datagram,) = received(sock)
    assert datagram.startswith(b"<135>") and datagram.endswith(b"more details")
    logs.configure(settings, verbose=False)
    log.debug("dropped")
    assert received(sock) == []


def test_configure_again_switches_in_place(receiver, capsys):
    path, sock = receiver
    syslog = LogConfig(target="syslog", syslog_socket=str(path))
    logs.configure(LogConfig())
    first = ours()
    logs.configure(LogConfig())
    assert ours() == first and len(first) == 1  # the same settings change nothing
    log.info("to stderr")
    logs.configure(syslog)
    log.info("to syslog")
    logs.configure(syslog)
    assert len(ours()) == 1
    logs.configure(LogConfig(level="warning"))
    log.info("dropped")
    log.warning("to stderr again")
    assert len(ours()) == 1
    assert capsys.readouterr().err == (
        "INFO lvsmon.test: to stderr\nWARNING lvsmon.test: to stderr again\n"
    )
    assert [d.rsplit(b": ", 1)[-1] for d in received(sock)] == [b"to syslog"]


def test_stderr_under_journald_has_priority_prefixes(monkeypatch, capsys):
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    logs.configure(LogConfig(level="debug"))
    log.log(logs.NOTICE, "master changed")
    log.warning("two\nlines")
    log.debug("detail")
    assert capsys.readouterr().err.splitlines() == [
        "<5>NOTICE lvsmon.test: master changed",
        "<4>WARNING lvsmon.test: two",
        "<4>lines",
        "<7>DEBUG lvsmon.test: detail",
    ]


def test_stderr_while_the_syslog_socket_is_missing_said_once(tmp_path, capsys):
    path = tmp_path / "log.sock"
    logs.configure(LogConfig(target="syslog", syslog_socket=str(path)))
    log.warning("first")
    log.info("second")
    assert capsys.readouterr().err.splitlines() == [
        f"WARNING lvsmon.logs: syslog socket {path} unavailable (No such file or directory): "
        "logging to stderr until it is back",
        "WARNING lvsmon.test: first",
        "INFO lvsmon.test: second",
    ]
    # syslogd starts: the next record goes there, and stderr says so once.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    with sock:
        log.info("third")
        assert sock.recv(65536).endswith(b"lvsmon.test: third")
        log.info("fourth")
        assert sock.recv(65536).endswith(b"lvsmon.test: fourth")
    assert capsys.readouterr().err == (
        f"INFO lvsmon.logs: syslog socket {path}: reachable again, logging there\n"
    )
    # syslogd goes away again: said once more.
    path.unlink()
    log.info("fifth")
    assert capsys.readouterr().err.splitlines()[1:] == ["INFO lvsmon.test: fifth"]


def test_notice_is_a_level_name():
    assert logging.getLevelName(logs.NOTICE) == "NOTICE"
    assert logging.INFO < logs.NOTICE < logging.WARNING
