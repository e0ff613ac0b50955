"""The Subagent against a scripted master on a unix socket (and once over loopback TCP).

A fake master can do what snmpd never does on purpose: send malformed and hostile
PDUs, refuse Open, answer Register with duplicateRegistration, go silent, close the
session. The real Subagent must answer by the RFC, close cleanly with the right
reason and reopen, count every reason, and never crash or stall its loop.
No namespaces: only a unix socket in the test's temp dir and 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from lvsmon_snmp.agentx import codec, session
from lvsmon_snmp.agentx.codec import (
    CloseReason,
    ErrorCode,
    SearchRange,
    VarBind,
)
from lvsmon_snmp.agentx.index import OidIndex
from lvsmon_snmp.agentx.oids import SNMP_TRAP_OID_0
from lvsmon_snmp.agentx.session import Subagent, Subtree
from lvsmon_snmp.agentx.settings import AgentxSettings
from lvsmon_snmp.agentx.values import END_OF_MIB_VIEW, NO_SUCH_INSTANCE, Value
from tests.lab.agentx_fake_master import (
    HOSTILE,
    PROTOCOL,
    SESSION,
    FakeMaster,
    Heartbeat,
    wait_until,
)

pytestmark = pytest.mark.lab

BASE = (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 7)
OTHER = (1, 3, 6, 1, 4, 1, 9586, 100, 5)  # where keepalived's agent lives


def sample_index() -> OidIndex:
    return OidIndex([(BASE + (1, 0), Value.octet_string("one")),
                     (BASE + (2, 0), Value.counter64(2)),
                     (OTHER + (1, 0), Value.integer32(3))])


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 120))


def settings_for(path, **changes) -> AgentxSettings:
    return AgentxSettings(enabled=True, master=str(path), base_oid=".".join(map(str, BASE)),
                          **{"timeout": 2.0, **changes})


@contextlib.asynccontextmanager
async def running(subagent: Subagent):
    await subagent.start()
    try:
        yield subagent
    finally:
        await subagent.stop()


# -- a well-behaved master --------------------------------------------------------


def test_requests_answered_by_the_rfc(tmp_path):
    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        async with running(Subagent(settings_for(master.path), index=sample_index())) as agent:
            conn = await master.connection()
            opened_registers = await conn.handshake()
            assert opened_registers[0].subtree == BASE
            await wait_until(lambda: agent.connected)
            assert agent.served_subtrees == (Subtree(BASE),)
            ids = dict(session_id=SESSION, transaction_id=7)

            answer = await conn.ask(codec.Get(packet_id=conn.next_id(), **ids, ranges=(
                SearchRange(BASE + (1, 0)), SearchRange(BASE + (1, 1)))))
            assert answer.error == 0 and answer.transaction_id == 7
            assert answer.varbinds == (VarBind(BASE + (1, 0), Value.octet_string("one")),
                                       VarBind(BASE + (1, 1), NO_SUCH_INSTANCE))
            # A little-endian request is read by its flag.
            answer = await conn.ask(codec.GetNext(packet_id=conn.next_id(), **ids, ranges=(
                SearchRange(BASE, BASE + (2,)), SearchRange(BASE + (2, 0), BASE + (3,)))),
                network_byte_order=False)
            assert answer.varbinds == (VarBind(BASE + (1, 0), Value.octet_string("one")),
                                       VarBind(BASE + (2, 0), END_OF_MIB_VIEW))
            answer = await conn.ask(codec.GetBulk(packet_id=conn.next_id(), **ids,
                                                  non_repeaters=0, max_repetitions=5,
                                                  ranges=(SearchRange(BASE, BASE + (3,)),)))
            assert [vb.name for vb in answer.varbinds] == [BASE + (1, 0), BASE + (2, 0),
                                                          BASE + (2, 0)]
            # update() swaps the index for the next answer.
            agent.update(OidIndex([(BASE + (1, 0), Value.octet_string("new"))]))
            answer = await conn.ask(codec.Get(packet_id=conn.next_id(), **ids,
                                              ranges=(SearchRange(BASE + (1, 0)),)))
            assert answer.varbinds[0].value == Value.octet_string("new")

            # Sets: TestSet notWritable at varbind 1, CommitSet commitFailed, UndoSet noError,
            # CleanupSet unanswered (the next answer is the Get's).
            answer = await conn.ask(codec.TestSet(packet_id=conn.next_id(), **ids, varbinds=(
                VarBind(BASE + (1, 0), Value.octet_string("x")),)))
            assert (answer.error, answer.index) == (ErrorCode.NOT_WRITABLE, 1)
            answer = await conn.ask(codec.CommitSet(packet_id=conn.next_id(), **ids))
            assert answer.error == ErrorCode.COMMIT_FAILED
            answer = await conn.ask(codec.UndoSet(packet_id=conn.next_id(), **ids))
            assert answer.error == ErrorCode.NO_ERROR
            conn.send(codec.CleanupSet(packet_id=conn.next_id(), **ids))
            get = codec.Get(packet_id=conn.next_id(), **ids, ranges=(SearchRange(BASE),))
            assert (await conn.ask(get)).packet_id == get.packet_id
            # A context we never registered.
            answer = await conn.ask(codec.Get(packet_id=conn.next_id(), **ids, context=b"vrf",
                                              ranges=(SearchRange(BASE + (1, 0)),)))
            assert answer.error == ErrorCode.UNSUPPORTED_CONTEXT

            counters = agent.counters
            assert counters.pdus_answered == {"get": 4, "getNext": 1, "getBulk": 1,
                                              "testSet": 1, "commitSet": 1, "undoSet": 1,
                                              "cleanupSet": 1}
            assert sum(counters.bad_pdus.values()) == 0
            assert counters.slowest_answer_seconds < 1.0
            stop = asyncio.create_task(agent.stop())
            close = await conn.read()
            assert isinstance(close, codec.Close) and close.reason == CloseReason.SHUTDOWN
            conn.send(codec.Response(session_id=SESSION, packet_id=close.packet_id))
            await stop
            assert await conn.read() is None
            assert not agent.connected and agent.served_subtrees == ()
        await master.stop()

    run(scenario)


def test_tcp_master_on_loopback(tmp_path):
    async def scenario():
        master = FakeMaster(None)
        port = await master.start_tcp()
        agent = Subagent(settings_for(f"tcp:127.0.0.1:{port}"), index=sample_index())
        async with running(agent):
            conn = await master.connection()
            await conn.handshake()
            answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                              ranges=(SearchRange(BASE + (2, 0)),)))
            assert answer.varbinds[0].value == Value.counter64(2)
        await master.stop()

    run(scenario)


def test_notify_and_its_answers(tmp_path):
    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        agent = Subagent(settings_for(master.path), index=sample_index())
        assert not agent.notify(BASE + (0, 1))  # no session yet: refused, counted
        async with running(agent):
            conn = await master.connection()
            await conn.handshake()
            await wait_until(lambda: agent.connected)
            assert agent.notify(BASE + (0, 1), [(BASE + (1, 0), Value.octet_string("x")),
                                                VarBind(BASE + (2, 0), Value.counter64(9))])
            notify = await conn.read()
            assert isinstance(notify, codec.Notify)
            assert notify.varbinds[0] == VarBind(SNMP_TRAP_OID_0,
                                                 Value.object_identifier(BASE + (0, 1)))
            assert [vb.name for vb in notify.varbinds[1:]] == [BASE + (1, 0), BASE + (2, 0)]
            conn.send(codec.Response(session_id=SESSION, packet_id=notify.packet_id))
            agent.notify(BASE + (0, 2))
            notify = await conn.read()
            conn.send(codec.Response(session_id=SESSION, packet_id=notify.packet_id,
                                     error=ErrorCode.PROCESSING_ERROR))
            await wait_until(lambda: agent.counters.notifications_sent == 1
                        and agent.counters.notifications_failed["processingError"] == 1)
            assert agent.counters.notifications_failed["not_connected"] == 1
        await master.stop()

    run(scenario)


# -- coexistence: a subtree another subagent holds ---------------------------------


def test_duplicate_registration_leaves_that_subtree_off(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lvsmon.agentx")

    async def scenario():
        master = FakeMaster(tmp_path / "master", expected_registers=2)
        await master.start()
        subtrees = [Subtree(OTHER), Subtree(BASE)]
        agent = Subagent(settings_for(master.path), subtrees, index=sample_index())
        async with running(agent):
            for _ in range(2):  # the same refusal in a second session is not logged again
                conn = await master.connection()
                await conn.handshake(refuse={OTHER: ErrorCode.DUPLICATE_REGISTRATION})
                await wait_until(lambda: agent.connected)
                assert agent.served_subtrees == (Subtree(BASE),)
                assert agent.refused_subtrees == {Subtree(OTHER): "duplicateRegistration"}
                answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                                  ranges=(SearchRange(BASE + (1, 0)),)))
                assert answer.varbinds[0].value == Value.octet_string("one")
                conn.send(codec.Close(session_id=SESSION, reason=CloseReason.SHUTDOWN))
                assert await conn.read() is None
            await wait_until(lambda: agent.counters.session_ends["master_close"] == 2)
            conn = await master.connection()
            await conn.handshake()  # the other subagent is gone: now we get it
            await wait_until(lambda: agent.connected)
            assert agent.served_subtrees == (Subtree(OTHER), Subtree(BASE))
            assert agent.status()["refused_subtrees"] == {}
        await master.stop()

    run(scenario)
    refusals = [r for r in caplog.records if "not served" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    assert "9586.100.5" in refusals[0].getMessage()
    assert any("served by lvsmon again" in r.getMessage() for r in caplog.records)


def test_a_refused_probe_leaves_its_subtree_off(tmp_path):
    """keepalived's agent registers each object on its own: no duplicate of lvsmon's whole
    subtree, so lvsmon registers one of those objects (a probe) first."""
    column = OTHER + (2, 3, 1, 2)

    async def scenario():
        master = FakeMaster(tmp_path / "master", expected_registers=2, probes={column})
        await master.start()
        subtrees = [Subtree(OTHER, probes=(column,)), Subtree(BASE)]
        agent = Subagent(settings_for(master.path), subtrees, index=sample_index())
        async with running(agent):
            # Another agent holds the probed column: the subtree is never registered.
            conn = await master.connection()
            registers = await conn.handshake(refuse={column: ErrorCode.DUPLICATE_REGISTRATION})
            assert [register.subtree for register in registers] == [BASE]
            assert conn.probed == [column]
            await wait_until(lambda: agent.connected)
            assert agent.served_subtrees == (Subtree(BASE),)
            assert agent.refused_subtrees == {Subtree(OTHER): "duplicateRegistration"}
            conn.send(codec.Close(session_id=SESSION, reason=CloseReason.SHUTDOWN))
            assert await conn.read() is None
            # Nobody holds it: the probe is registered, unregistered, then the subtree.
            conn = await master.connection()
            registers = await conn.handshake()
            assert [register.subtree for register in registers] == [OTHER, BASE]
            assert conn.probed == [column]
            await wait_until(lambda: agent.connected)
            assert agent.served_subtrees == (Subtree(OTHER), Subtree(BASE))
        await master.stop()

    run(scenario)
    with pytest.raises(session.SubtreeError):
        Subtree(OTHER, probes=(BASE,))


# -- hostile and broken masters ----------------------------------------------------




def test_hostile_pdus_close_the_session_and_it_reopens(tmp_path, monkeypatch):
    monkeypatch.setattr(session, "MAX_BACKOFF", 0.2)  # the reopening, not its pace, is tested

    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        agent = Subagent(settings_for(master.path), index=sample_index())
        with Heartbeat() as heartbeat:
            async with running(agent):
                for reason, data in HOSTILE:
                    conn = await master.connection()
                    await conn.handshake()
                    # A good request first: answered; then the hostile bytes in pieces.
                    await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                             ranges=(SearchRange(BASE + (1, 0)),)))
                    await conn.send_in_pieces(data)  # in pieces, as a stream may cut it
                    expected = (CloseReason.PROTOCOL_ERROR if reason in PROTOCOL
                                else CloseReason.PARSE_ERROR)
                    await conn.expect_close(expected)
                    assert agent.counters.bad_pdus[reason] == 1, reason
                # After all that, a session that works.
                conn = await master.connection()
                await conn.handshake()
                answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                                  ranges=(SearchRange(BASE + (2, 0)),)))
                assert answer.varbinds[0].value == Value.counter64(2)
        await master.stop()
        counters = agent.counters
        assert counters.session_ends["bad_pdu"] == len(HOSTILE)
        assert counters.sessions_opened == len(HOSTILE) + 1
        assert counters.reconnects == len(HOSTILE)
        assert counters.pdus_answered["get"] == len(HOSTILE) + 1
        assert heartbeat.largest_gap < 1.0, heartbeat.largest_gap  # the loop never stalled

    run(scenario)


def test_unexpected_response_is_counted_and_ignored(tmp_path):
    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        async with running(Subagent(settings_for(master.path), index=sample_index())) as agent:
            conn = await master.connection()
            await conn.handshake()
            conn.send(codec.Response(session_id=SESSION, packet_id=999_999))
            answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                              ranges=(SearchRange(BASE + (1, 0)),)))
            assert answer.error == 0
            assert agent.counters.bad_pdus["unexpected_response"] == 1
            assert agent.counters.sessions_opened == 1
        await master.stop()

    run(scenario)


def test_silent_master_is_noticed_by_ping(tmp_path):
    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        # Pings after 0.5 s of silence; 2 s for each answer (0.5 s would also time out the
        # answers the fake master gives, should this one process stall that long).
        agent = Subagent(settings_for(master.path, timeout=2.0, ping_interval=0.5),
                         index=sample_index())
        async with running(agent):
            conn = await master.connection()
            await conn.handshake()
            ping = await conn.read()
            assert isinstance(ping, codec.Ping) and ping.session_id == SESSION
            conn.send(codec.Response(session_id=SESSION, packet_id=ping.packet_id))
            ping = await conn.read()  # the next one goes unanswered: the master is "stuck"
            assert isinstance(ping, codec.Ping)
            await conn.expect_close(CloseReason.TIMEOUTS)
            conn = await master.connection()  # and it comes back
            await conn.handshake()
            await wait_until(lambda: agent.connected)
            assert agent.counters.session_ends["timeout"] == 1
            # A master that forgot the session answers Ping with notOpen.
            ping = await conn.read()
            conn.send(codec.Response(session_id=SESSION, packet_id=ping.packet_id,
                                     error=ErrorCode.NOT_OPEN))
            await conn.expect_close(CloseReason.PROTOCOL_ERROR)
            await wait_until(lambda: agent.counters.session_ends["not_open"] == 1)
        await master.stop()

    run(scenario)


def test_refused_open_and_absent_master_retry_quietly(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lvsmon.agentx")

    async def scenario():
        path = tmp_path / "master"
        agent = Subagent(settings_for(path), index=sample_index())
        async with running(agent):
            # No master at all for a while: attempts go on, one log line.
            await wait_until(lambda: agent.counters.connect_attempts >= 6)
            master = FakeMaster(path)
            await master.start()
            back = time.monotonic()
            conn = await master.connection()
            opened = await conn.read()
            conn.send(codec.Response(session_id=0, packet_id=opened.packet_id,
                                     error=ErrorCode.OPEN_FAILED))
            assert await conn.read() is None  # it hangs up and tries again later
            conn = await master.connection()
            await conn.handshake()
            await wait_until(lambda: agent.connected)
            assert time.monotonic() - back < 3 * session.MAX_BACKOFF + 2.0
            await master.stop()
        return agent

    agent = asyncio.run(asyncio.wait_for(scenario(), 120))
    messages = [r.getMessage() for r in caplog.records]
    assert agent.counters.connect_attempts >= 8
    assert len([m for m in messages if "not reachable" in m]) == 1, messages
    assert len(messages) == 2, messages  # the outage once, the session once


def test_master_closing_on_us_reconnects(tmp_path):
    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        async with running(Subagent(settings_for(master.path), index=sample_index())) as agent:
            conn = await master.connection()
            await conn.handshake()
            conn.close()  # EOF, as when snmpd dies
            conn = await master.connection()
            await conn.handshake()
            await wait_until(lambda: agent.connected)
            assert agent.counters.session_ends["eof"] == 1
            assert agent.counters.reconnects == 1
        await master.stop()

    run(scenario)




def test_a_failing_answer_ends_only_that_session(tmp_path, caplog):
    """A bug while answering (here: an index that raises) is logged with its traceback,
    the session is closed (reasonOther) and reopened; the loop goes on."""

    class BrokenIndex(OidIndex):
        def get(self, oid):
            raise RuntimeError("broken on purpose")

    async def scenario():
        master = FakeMaster(tmp_path / "master")
        await master.start()
        agent = Subagent(settings_for(master.path), index=BrokenIndex(sample_index()))
        async with running(agent):
            conn = await master.connection()
            await conn.handshake()
            conn.send(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                ranges=(SearchRange(BASE + (1, 0)),)))
            await conn.expect_close(CloseReason.OTHER)
            agent.update(sample_index())
            conn = await master.connection()
            await conn.handshake()
            answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                              ranges=(SearchRange(BASE + (1, 0)),)))
            assert answer.varbinds[0].value == Value.octet_string("one")
            assert agent.counters.session_ends["internal_error"] == 1
        await master.stop()

    run(scenario)
    assert any("broken on purpose" in (r.exc_text or "") for r in caplog.records)
