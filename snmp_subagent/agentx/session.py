"""The AgentX subagent: one session with the master agent, kept open whatever happens.

    subagent = Subagent(settings, [Subtree(settings.base)], index)
    await subagent.start()          # returns at once; connects in the background
    subagent.update(new_index)      # any time: the next answer uses it
    subagent.notify(trap_oid, [(oid, Value.integer32(2))])
    await subagent.stop()           # Close(shutdown), then the socket closes

Life of a session: connect (unix socket or TCP), Open, Register each subtree,
then answer the master from the current index. Pings go out when the master
has been silent for `ping_interval`. The session ends on EOF, a socket error,
an answer of the master that does not come within `timeout`, a Close from the
master, or a PDU that cannot be trusted (counted by reason, then Close with
parseError / protocolError). Then it reconnects with a backoff that starts at
0.1 s and doubles up to 2 s, so a master that comes back is served again
within about 2 s. An outage is logged when it starts and when it ends, never
per attempt; a flapping master at most once a minute.

Registration answers: noError serves the subtree; duplicateRegistration (another
subagent, e.g. keepalived's, has it), requestDenied, unsupportedContext,
parseError and processingError leave that subtree off for this session (logged
once while it stays refused) and the rest is served; notOpen ends the session.
`served_subtrees` and `refused_subtrees` say which is which.

Requests of the master are answered synchronously in the protocol callback
from the index held at that moment: nothing in an answer awaits or locks, so
no data source can delay one. TestSet is answered notWritable (everything is
read-only), CommitSet commitFailed (nothing was accepted), UndoSet noError
(nothing to undo), CleanupSet not at all (RFC 2741 section 7.2.4.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from lvsmon.errors import AgentxError
from lvsmon_snmp.agentx.answers import answer_get, answer_get_bulk, answer_get_next
from lvsmon_snmp.agentx.codec import (
    DECODE_REASONS,
    AgentxDecodeError,
    CleanupSet,
    Close,
    CloseReason,
    CommitSet,
    ErrorCode,
    Framer,
    Get,
    GetBulk,
    GetNext,
    Notify,
    Open,
    Pdu,
    Ping,
    Register,
    Response,
    TestSet,
    UndoSet,
    Unregister,
    VarBind,
    encode,
    encode_response,
    encode_varbind,
    error_name,
    single_get_next,
)
from lvsmon_snmp.agentx.index import EMPTY_INDEX, OidIndex
from lvsmon_snmp.agentx.oids import SNMP_TRAP_OID_0, Oid, format_oid, parse_oid
from lvsmon_snmp.agentx.settings import AgentxSettings
from lvsmon_snmp.agentx.values import END_OF_MIB_VIEW, Value

log = logging.getLogger("lvsmon.agentx")

MIN_BACKOFF = 0.1
MAX_BACKOFF = 2.0  # a master back after any outage is reached again within this
STABLE_SECONDS = 30.0  # a session shorter than this counts as flapping
FLAP_LOG_SECONDS = 60.0  # a flapping master is logged at most once per this
# Probes register at net-snmp's default priority, register_mib's (keepalived's): only the
# same priority makes a duplicate, and a longer OID wins whatever the priorities, so the
# configured priority could never take such an object over anyway.
PROBE_PRIORITY = 127
CLOSE_WAIT = 1.0  # at most this long for the master's answer to our Close on stop
READ_BUFFER = 64 * 1024  # bytes read from the master at once (a PDU may span reads)
MAX_WRITE_BUFFER = 8 * 1024 * 1024  # unsent bytes: a master that stopped reading
NOTIFY_SOURCE = "lvsmon"

# Why a PDU from the master was refused, beyond the decoder's DECODE_REASONS.
PROTOCOL_REASONS = (
    "unexpected_type",  # a PDU only a subagent sends (Open, Register, Notify, Ping ...)
    "unknown_session",  # a request for a session id that is not ours
    "unexpected_response",  # a Response to nothing we asked (or asked too long ago)
)
BAD_PDU_REASONS = DECODE_REASONS + PROTOCOL_REASONS
# Registration answers that leave a subtree off while the session goes on.
_REFUSALS = {ErrorCode.DUPLICATE_REGISTRATION, ErrorCode.REQUEST_DENIED,
             ErrorCode.UNSUPPORTED_CONTEXT, ErrorCode.PARSE_ERROR, ErrorCode.PROCESSING_ERROR}
_ANSWER_NAMES = {Get: "get", GetNext: "getNext", GetBulk: "getBulk", TestSet: "testSet",
                 CommitSet: "commitSet", UndoSet: "undoSet", CleanupSet: "cleanupSet"}


class SubtreeError(AgentxError, ValueError):
    """A registration that RFC 2741 cannot express."""


@dataclass(frozen=True, slots=True)
class Subtree:
    """A registration: `oid` and what lies under it, or with `range_subid` (1-based) a
    range of them, sub-identifier range_subid running up to `upper_bound`
    (RFC 2741 section 6.2.3), e.g. one row across columns 1..22 of a table."""

    oid: Oid
    range_subid: int = 0
    upper_bound: int = 0
    # Objects under `oid` that another agent registers one by one (keepalived's agent, like
    # every net-snmp agent built on register_mib, registers each column and scalar on its
    # own): such a registration is no duplicate of `oid`, yet the master would answer it
    # from that agent and the rest of the subtree from lvsmon, mixing two sources in one
    # table. Each probe is registered first (at PROBE_PRIORITY); one answered
    # duplicateRegistration refuses the whole subtree. Accepted probes are unregistered.
    probes: tuple[Oid, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "oid", parse_oid(self.oid))
        probes = tuple(parse_oid(probe) for probe in self.probes)
        if any(probe[:len(self.oid)] != self.oid or probe == self.oid for probe in probes):
            raise SubtreeError(f"a probe of {format_oid(self.oid)} must lie under it")
        object.__setattr__(self, "probes", probes)
        if not 0 <= self.range_subid <= len(self.oid):
            raise SubtreeError(f"range_subid {self.range_subid} outside the subtree "
                               f"{format_oid(self.oid)}")
        if self.range_subid and not (
                self.oid[self.range_subid - 1] <= self.upper_bound <= 0xFFFFFFFF):
            raise SubtreeError(f"upper_bound {self.upper_bound} outside "
                               f"{self.oid[self.range_subid - 1]}..2^32-1")

    def __str__(self) -> str:
        if not self.range_subid:
            return format_oid(self.oid)
        parts = [str(part) for part in self.oid]
        position = self.range_subid - 1
        parts[position] = f"[{parts[position]}-{self.upper_bound}]"
        return ".".join(parts)


class AgentxCounters:
    """What the subagent did, for the status socket and metrics. One owner: the loop."""

    def __init__(self) -> None:
        self.pdus_answered: Counter[str] = Counter()  # by request: get, getNext, getBulk ...
        self.bad_pdus: Counter[str] = Counter()  # by BAD_PDU_REASONS
        self.session_ends: Counter[str] = Counter()  # by kind: eof, timeout, bad_pdu ...
        self.connect_attempts = 0
        self.sessions_opened = 0
        self.reconnects = 0  # sessions opened after an earlier one was lost
        self.notifications_sent = 0  # answered noError by the master
        self.notifications_failed: Counter[str] = Counter()  # by error, or not_connected
        self.slowest_answer_seconds = 0.0

    def as_dict(self) -> dict:
        return {
            "pdus_answered": dict(self.pdus_answered),
            "bad_pdus": {reason: self.bad_pdus[reason] for reason in BAD_PDU_REASONS},
            "session_ends": dict(self.session_ends),
            "connect_attempts": self.connect_attempts,
            "sessions_opened": self.sessions_opened,
            "reconnects": self.reconnects,
            "notifications_sent": self.notifications_sent,
            "notifications_failed": dict(self.notifications_failed),
            "slowest_answer_seconds": round(self.slowest_answer_seconds, 6),
        }


class SessionLost(Exception):
    """The session cannot go on; `kind` (a counter key) and the message say why."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class _Connection(asyncio.BufferedProtocol):
    """One transport to the master: frames PDUs in, matches answers to our requests,
    hands the master's requests to the Subagent. Ends once, with a kind and a reason.

    A BufferedProtocol: the transport reads into one buffer kept for the connection.
    A plain Protocol gets a new bytes object per read, and asyncio sizes it for 256 KiB
    (an mmap and munmap for every read): measured, that doubled the CPU a GetNext round
    trip costs, and a walk is one round trip per varbind."""

    def __init__(self, subagent: Subagent):
        self.subagent = subagent
        self.framer = Framer()
        self._read_buffer = memoryview(bytearray(READ_BUFFER))
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, asyncio.Future[Response]] = {}
        self.ended: asyncio.Future[SessionLost] = asyncio.get_running_loop().create_future()
        self.session_id = 0
        self.last_heard = time.monotonic()
        self._packet_id = 0

    # -- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # A walk's GetNext, alone in the read, is answered without making a Pdu; anything
        # else (or a PDU split across reads) goes through the Framer.
        request = None if self.framer.buffered else single_get_next(self._read_buffer, nbytes)
        if request is None or request[0] != self.session_id or not self.session_id:
            self.data_received(self._read_buffer[:nbytes])
            return
        if self.ended.done():
            return
        self.last_heard = time.monotonic()
        try:
            self.subagent._walk_step(self, request)
        except Exception as exc:  # a bug of ours must not take the daemon down
            self._internal_error(exc)

    def data_received(self, data: bytes | memoryview) -> None:
        if self.ended.done():
            return
        self.last_heard = time.monotonic()
        self.framer.feed(data)
        try:
            while not self.ended.done() and (pdu := self.framer.next_pdu()) is not None:
                self.subagent._received(self, pdu)
        except AgentxDecodeError as exc:
            self.refuse(exc.reason, str(exc), CloseReason.PARSE_ERROR)
        except Exception as exc:  # a bug of ours must not take the daemon down
            self._internal_error(exc)

    def _internal_error(self, exc: Exception) -> None:
        log.exception("AgentX: internal error while answering the master")
        self.end("internal_error", f"internal error: {exc!r}", CloseReason.OTHER)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "the master closed the connection (EOF)"
        self.end("eof", reason)

    # -- sending --------------------------------------------------------------

    def send(self, pdu: Pdu | bytes) -> None:
        """Write a PDU, or one encoded already (the answering path)."""
        if self.ended.done() or self.transport is None:
            return
        self.transport.write(pdu if isinstance(pdu, bytes) else encode(pdu))
        if self.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.end("master_not_reading", "the master does not read what we send")

    def next_packet_id(self) -> int:
        self._packet_id = self._packet_id % 0xFFFFFFFF + 1
        return self._packet_id

    async def request(self, make_pdu, timeout: float) -> Response:
        """Send the PDU make_pdu(packet_id) builds; its Response, or SessionLost."""
        if self.ended.done():
            raise self.ended.result()
        packet_id = self.next_packet_id()
        pdu = make_pdu(packet_id)
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.pending[packet_id] = answer
        self.send(pdu)
        try:
            done, _ = await asyncio.wait({answer, self.ended}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.pending.pop(packet_id, None)
        if answer in done:
            return answer.result()
        if self.ended.done():
            raise self.ended.result()
        name = type(pdu).__name__
        self.end("timeout", f"no answer to {name} within {timeout:g} s", CloseReason.TIMEOUTS)
        raise self.ended.result()

    # -- ending ---------------------------------------------------------------

    def refuse(self, reason: str, detail: str, close_reason: CloseReason) -> None:
        """A PDU we cannot trust: count it, Close the session, drop the connection."""
        self.subagent.counters.bad_pdus[reason] += 1
        self.end("bad_pdu", f"bad PDU from the master: {detail}", close_reason)

    def end(self, kind: str, reason: str, close_reason: CloseReason | None = None) -> None:
        if self.ended.done():
            return
        if close_reason is not None and self.session_id and self.transport is not None:
            with contextlib.suppress(Exception):  # best effort: the socket may be gone
                self.transport.write(encode(Close(session_id=self.session_id,
                                                  packet_id=self.next_packet_id(),
                                                  reason=close_reason)))
        self.ended.set_result(SessionLost(kind, reason))
        if self.transport is not None:
            self.transport.close()  # sends what is buffered (the Close) first


class _OutageLog:
    """One line when trouble starts and one when it ends, none per attempt; a master
    whose sessions keep ending early is logged at most once per FLAP_LOG_SECONDS."""

    def __init__(self, master: str):
        self.master = master
        self.down_since: float | None = None
        self.attempts = 0
        self.quiet = False
        self.last_logged = -FLAP_LOG_SECONDS

    def down(self, reason: str, session_seconds: float | None = None) -> None:
        now = time.monotonic()
        if self.down_since is not None:
            self.attempts += 1
            return
        self.down_since, self.attempts = now, 1
        flapping = session_seconds is not None and session_seconds < STABLE_SECONDS
        self.quiet = flapping and now - self.last_logged < FLAP_LOG_SECONDS
        if self.quiet:
            return
        self.last_logged = now
        if session_seconds is None:
            log.warning("AgentX master %s not reachable: %s; retrying quietly until it answers",
                        self.master, reason)
        else:
            log.warning("AgentX session with %s ended: %s; reconnecting quietly",
                        self.master, reason)

    def up(self, served: int, total: int, first: bool) -> None:
        now = time.monotonic()
        if first:
            log.info("AgentX session open with %s: serving %d of %d subtrees",
                     self.master, served, total)
        elif self.down_since is not None and not self.quiet:
            log.info("AgentX session open again with %s after %.1f s (%d attempts): "
                     "serving %d of %d subtrees", self.master, now - self.down_since,
                     self.attempts, served, total)
        self.down_since = None


class _Backoff:
    """Seconds to wait before the next attempt: MIN_BACKOFF doubling up to MAX_BACKOFF."""

    def __init__(self) -> None:
        self.delay = MIN_BACKOFF

    def next(self) -> float:
        delay = min(self.delay, MAX_BACKOFF)
        self.delay = min(self.delay * 2, MAX_BACKOFF)
        return delay

    def reset(self) -> None:
        self.delay = MIN_BACKOFF


class Subagent:
    """See the module docstring. Create, then start() and stop() on the running loop."""

    def __init__(self, settings: AgentxSettings, subtrees: Iterable[Subtree] | None = None,
                 index: OidIndex | None = None, *, description: str = "lvsmon"):
        self.settings = settings
        self.subtrees: tuple[Subtree, ...] = (tuple(subtrees) if subtrees is not None
                                              else (Subtree(settings.base),))
        if not self.subtrees:
            raise SubtreeError("a subagent needs at least one subtree to register")
        self.description = description
        self.counters = AgentxCounters()
        self._index = index if index is not None else EMPTY_INDEX
        self._served: tuple[Subtree, ...] = ()
        self._refused: dict[Subtree, str] = {}
        self._refusals_logged: dict[Subtree, str] = {}
        self._connection: _Connection | None = None
        self._ready = False  # Open and Register done on _connection
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._notifications: set[asyncio.Task] = set()
        self._outage = _OutageLog(str(settings.address))
        self.last_problem: str | None = "not connected yet"
        self.last_request = 0.0  # time.perf_counter() of the master's last request

    # -- the lead's API -------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="agentx")

    async def stop(self) -> None:
        """Close the session (reasonShutdown) and stop reconnecting."""
        self._stopping = True
        self._wake.set()
        connection = self._connection
        if connection is not None and connection.session_id and not connection.ended.done():
            with contextlib.suppress(SessionLost):
                await connection.request(
                    lambda packet_id: Close(session_id=connection.session_id,
                                            packet_id=packet_id, reason=CloseReason.SHUTDOWN),
                    min(self.settings.timeout, CLOSE_WAIT))
            connection.end("stopped", "stopped")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._drop_session()  # also a connection cancelled halfway through Open
        for task in list(self._notifications):
            task.cancel()
        await asyncio.gather(*self._notifications, return_exceptions=True)

    def update(self, index: OidIndex) -> None:
        """Answer from `index` from now on (a reference swap; build it anywhere)."""
        if not isinstance(index, OidIndex):
            raise TypeError(f"update() needs an OidIndex, not {type(index).__name__}")
        self._index = index

    @property
    def index(self) -> OidIndex:
        return self._index

    @property
    def connected(self) -> bool:
        """A session is open and its registrations are done."""
        return self._ready

    @property
    def served_subtrees(self) -> tuple[Subtree, ...]:
        """Subtrees the master routes to us now (empty while no session is open)."""
        return self._served

    @property
    def refused_subtrees(self) -> dict[Subtree, str]:
        """Subtrees the master refused in this session, with its answer's name."""
        return dict(self._refused)

    def notify(self, trap_oid: Oid | str, varbinds: Iterable = ()) -> bool:
        """Send a notification (snmpTrapOID.0 = trap_oid, then `varbinds`: VarBinds or
        (oid, value) pairs); snmpd's trap settings decide where it goes. False if no
        session is open (counted as not_connected): nothing is queued for later."""
        payload = [VarBind(SNMP_TRAP_OID_0, Value.object_identifier(trap_oid))]
        for item in varbinds:
            if isinstance(item, VarBind):
                payload.append(item)
            else:
                oid, value = item
                value = value if isinstance(value, Value) else Value.from_pysnmp(value)
                payload.append(VarBind(parse_oid(oid), value))
        connection = self._connection
        if connection is None or not self._ready or connection.ended.done():
            self.counters.notifications_failed["not_connected"] += 1
            return False
        task = asyncio.get_running_loop().create_task(
            self._notify(connection, tuple(payload)), name="agentx-notify")
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)
        return True

    def status(self) -> dict:
        """Served and refused subtrees and the counters, as plain data."""
        return {
            "master": str(self.settings.address),
            "connected": self.connected,
            "last_problem": self.last_problem,
            "served_subtrees": [str(subtree) for subtree in self._served],
            "refused_subtrees": {str(subtree): why for subtree, why in self._refused.items()},
            "index_size": len(self._index),
            **self.counters.as_dict(),
        }

    # -- connection loop ------------------------------------------------------

    async def _run(self) -> None:
        """Sessions one after the other until stop(); a bug in one never ends the loop."""
        backoff = _Backoff()
        while not self._stopping:
            try:
                await self._session(backoff)
            except Exception:  # noqa: BLE001 - logged with its traceback, then retried
                log.exception("AgentX: internal error; starting a new session")
                self.counters.session_ends["internal_error"] += 1
                self._drop_session()
                await self._pause(MAX_BACKOFF)

    async def _session(self, backoff: _Backoff) -> None:
        """Connect, open, register, serve until the session ends; then wait the backoff."""
        self.counters.connect_attempts += 1
        connection: _Connection | None = None
        try:
            connection = await self._connect()
            await self._open(connection)
        except (OSError, SessionLost, TimeoutError) as exc:
            if connection is not None:
                connection.end(getattr(exc, "kind", "open_failed"), str(exc))
            self._drop_session()
            self.last_problem = _describe(exc)
            self._outage.down(self.last_problem)
            await self._pause(backoff.next())
            return
        self.last_problem = None
        self.counters.sessions_opened += 1
        if self.counters.sessions_opened > 1:
            self.counters.reconnects += 1
        self._ready = True
        self._outage.up(len(self._served), len(self.subtrees),
                        first=self.counters.sessions_opened == 1)
        started = time.monotonic()
        lost = await self._serve(connection)
        self._drop_session()
        self.last_problem = str(lost)
        self.counters.session_ends[lost.kind] += 1
        if self._stopping:
            return
        lasted = time.monotonic() - started
        self._outage.down(str(lost), session_seconds=lasted)
        if lasted >= STABLE_SECONDS:
            backoff.reset()
        await self._pause(backoff.next())

    def _drop_session(self) -> None:
        if self._connection is not None:
            self._connection.end("dropped", "dropped")
        self._ready, self._served, self._connection = False, (), None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        address = self.settings.address
        connection = _Connection(self)
        if address.is_tcp:
            opening = loop.create_connection(lambda: connection, address.host, address.port)
        else:
            opening = loop.create_unix_connection(lambda: connection, address.path)
        await asyncio.wait_for(opening, self.settings.timeout)
        self._connection = connection
        return connection

    async def _open(self, connection: _Connection) -> None:
        settings = self.settings
        answer = await connection.request(
            lambda packet_id: Open(packet_id=packet_id, timeout=settings.open_timeout,
                                   id=settings.base, description=self.description.encode()),
            settings.timeout)
        if answer.error != ErrorCode.NO_ERROR:
            raise SessionLost("open_refused", f"the master refused Open: "
                                              f"{error_name(answer.error)}")
        connection.session_id = answer.session_id
        served, refused = [], {}
        for subtree in self.subtrees:
            answer = await self._probe(connection, subtree)
            if answer is None:
                answer = await connection.request(
                    lambda packet_id, subtree=subtree: Register(
                        session_id=connection.session_id, packet_id=packet_id,
                        subtree=subtree.oid, range_subid=subtree.range_subid,
                        upper_bound=subtree.upper_bound, priority=settings.priority),
                    settings.timeout)
            if answer.error == ErrorCode.NO_ERROR:
                served.append(subtree)
                self._served = tuple(served)  # answer its requests while the rest registers
            elif answer.error in _REFUSALS:
                refused[subtree] = error_name(answer.error)
            else:  # notOpen, or what no master should answer to a Register
                connection.end("register_failed", f"Register {subtree}: "
                               f"{error_name(answer.error)}", CloseReason.PROTOCOL_ERROR)
                raise connection.ended.result()
        self._served, self._refused = tuple(served), refused
        self._log_refusals()

    async def _probe(self, connection: _Connection, subtree: Subtree) -> Response | None:
        """Register each of the subtree's probes, then unregister it again. The master's
        answer that refused one (the subtree is then refused), or None: go ahead."""
        timeout = self.settings.timeout
        for probe in subtree.probes:
            answer = await connection.request(
                lambda packet_id, probe=probe: Register(
                    session_id=connection.session_id, packet_id=packet_id, subtree=probe,
                    priority=PROBE_PRIORITY),
                timeout)
            if answer.error != ErrorCode.NO_ERROR:
                return answer
            answer = await connection.request(
                lambda packet_id, probe=probe: Unregister(
                    session_id=connection.session_id, packet_id=packet_id, subtree=probe,
                    priority=PROBE_PRIORITY),
                timeout)
            if answer.error == ErrorCode.NOT_OPEN:
                return answer  # ends the session, as for a Register
        return None

    def _log_refusals(self) -> None:
        for subtree, why in self._refused.items():
            if self._refusals_logged.get(subtree) != why:
                self._refusals_logged[subtree] = why
                cause = ("another subagent has it registered" if why == "duplicateRegistration"
                         else "refused by the master")
                log.warning("AgentX: subtree %s not served (%s: %s); lvsmon leaves it off and "
                            "serves the rest", subtree, why, cause)
        for subtree in self._served:
            if self._refusals_logged.pop(subtree, None) is not None:
                log.info("AgentX: subtree %s is served by lvsmon again", subtree)

    async def _serve(self, connection: _Connection) -> SessionLost:
        """Ping whenever the master has been silent for ping_interval; return why the
        session ended."""
        interval = self.settings.ping_interval
        while not connection.ended.done():
            silent = time.monotonic() - connection.last_heard
            if silent < interval:
                await asyncio.wait({connection.ended}, timeout=interval - silent)
                continue
            try:
                answer = await connection.request(
                    lambda packet_id: Ping(session_id=connection.session_id,
                                           packet_id=packet_id),
                    self.settings.timeout)
            except SessionLost:
                break
            if answer.error == ErrorCode.NOT_OPEN:
                connection.end("not_open", "the master no longer knows our session (notOpen)",
                               CloseReason.PROTOCOL_ERROR)
        return connection.ended.result()

    async def _notify(self, connection: _Connection, varbinds: tuple[VarBind, ...]) -> None:
        try:
            answer = await connection.request(
                lambda packet_id: Notify(session_id=connection.session_id, packet_id=packet_id,
                                         varbinds=varbinds),
                self.settings.timeout)
        except SessionLost as exc:
            self.counters.notifications_failed[exc.kind] += 1
            return
        if answer.error == ErrorCode.NO_ERROR:
            self.counters.notifications_sent += 1
        else:
            self.counters.notifications_failed[error_name(answer.error)] += 1

    # -- the master's requests ------------------------------------------------

    def _received(self, connection: _Connection, pdu: Pdu) -> None:
        """Called from data_received for every PDU: answer at once, or settle a request."""
        name = _ANSWER_NAMES.get(type(pdu))  # a request of the master: nearly every PDU
        if name is None:
            self._not_a_request(connection, pdu)
            return
        if pdu.session_id != connection.session_id or not connection.session_id:
            connection.refuse("unknown_session", f"{type(pdu).__name__} for session "
                              f"{pdu.session_id}, ours is {connection.session_id}",
                              CloseReason.PROTOCOL_ERROR)
            return
        started = self.last_request = time.perf_counter()
        answer = self._answer(pdu)
        if answer is not None:
            connection.send(answer)
        self._answered(name, started)

    def _walk_step(self, connection: _Connection, request: tuple) -> None:
        """The hot path of _received: a GetNext of one range (codec.single_get_next) whose
        session is ours, answered straight from the index's encoded varbinds."""
        session, transaction, packet, start, include, end = request
        started = self.last_request = time.perf_counter()
        wire = self._index.next_wire(start, include, end)
        if wire is None:
            wire = encode_varbind(VarBind(start, END_OF_MIB_VIEW))
        connection.send(encode_response(session_id=session, transaction_id=transaction,
                                        packet_id=packet, varbinds=wire))
        self._answered("getNext", started)

    def _answered(self, name: str, started: float) -> None:
        counters = self.counters
        counters.pdus_answered[name] += 1
        elapsed = time.perf_counter() - started
        if elapsed > counters.slowest_answer_seconds:
            counters.slowest_answer_seconds = elapsed

    def _not_a_request(self, connection: _Connection, pdu: Pdu) -> None:
        """The answer to one of our requests, the master's Close, or a PDU a master never
        sends (refused)."""
        if isinstance(pdu, Response):
            waiting = connection.pending.get(pdu.packet_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(pdu)
            else:
                self.counters.bad_pdus["unexpected_response"] += 1
            return
        if isinstance(pdu, Close):
            connection.end("master_close", f"the master closed the session "
                                           f"({_close_reason_name(pdu.reason)})")
            return
        connection.refuse("unexpected_type", f"{type(pdu).__name__} is not for a subagent",
                          CloseReason.PROTOCOL_ERROR)

    def _answer(self, pdu: Pdu) -> Response | bytes | None:
        ids = {"session_id": pdu.session_id, "transaction_id": pdu.transaction_id,
               "packet_id": pdu.packet_id}  # fmt: skip
        if getattr(pdu, "context", None) is not None:  # we register the default context only
            return Response(**ids, error=ErrorCode.UNSUPPORTED_CONTEXT)
        index = self._index  # one reference for the whole answer
        match pdu:
            case GetNext():  # a walk: one per varbind, as net-snmp's master sends GetBulk too
                varbinds = answer_get_next(index, pdu.ranges)
            case Get():
                varbinds = answer_get(index, pdu.ranges)
            case GetBulk():
                varbinds = answer_get_bulk(index, pdu.non_repeaters, pdu.max_repetitions,
                                           pdu.ranges)
            case TestSet():
                if not pdu.varbinds:
                    return Response(**ids)
                return Response(**ids, error=ErrorCode.NOT_WRITABLE, index=1)
            case CommitSet():
                return Response(**ids, error=ErrorCode.COMMIT_FAILED)
            case UndoSet():
                return Response(**ids)
            case _:
                return None  # CleanupSet: no answer
        wire = index.wire
        return encode_response(**ids, varbinds=b"".join([wire(vb) for vb in varbinds]))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no connection within the timeout"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def _close_reason_name(reason: int) -> str:
    try:
        return CloseReason(reason).name.lower()
    except ValueError:
        return f"reason {reason}"
