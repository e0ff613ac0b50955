"""A scripted AgentX master on a unix socket (or loopback TCP), for tests of the subagent.

    master = FakeMaster(path, expected_registers=5)
    await master.start()
    conn = await master.connection()          # the subagent connected
    await conn.handshake()                    # Open and every Register answered noError
    answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(), ...))
    conn.send(raw(42))                         # bytes snmpd would never send
    await conn.expect_close(CloseReason.PARSE_ERROR)

HOSTILE lists malformed and hostile PDUs, each with the bad-PDU reason the subagent must
count. Heartbeat measures whether anything blocked the loop. Used by
tests/lab/test_agentx_fake_master.py (the engine) and tests/lab/test_agentx_daemon.py
(the whole daemon facing it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

from lvsmon_snmp.agentx import codec
from lvsmon_snmp.agentx.codec import CloseReason, ErrorCode, Framer, encode

SESSION = 4242
WAIT = 10.0  # generous: the machine may be busy
SOME_SUBTREE = (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 7)


class FakeConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.expected_registers, self.probes, self.probed = 1, frozenset(), []
        self.framer = Framer()
        self.packet_id = 1000

    async def read(self, timeout: float = WAIT):
        """The next PDU from the subagent, or None at EOF."""
        deadline = time.monotonic() + timeout
        while (pdu := self.framer.next_pdu()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the subagent sent nothing")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except ConnectionResetError:
                # A unix socket closed with bytes still unread in it resets its peer
                # instead of giving EOF; the PDUs before that were read already.
                return None
            if not data:
                return None
            self.framer.feed(data)
        return pdu

    def send(self, pdu_or_bytes, network_byte_order: bool = True) -> None:
        data = pdu_or_bytes if isinstance(pdu_or_bytes, bytes | bytearray) else encode(
            pdu_or_bytes, network_byte_order=network_byte_order)
        self.writer.write(data)

    async def send_in_pieces(self, data: bytes, size: int = 7) -> None:
        """Send `data` cut in `size`-byte writes, as a stream may deliver it. The subagent
        may close as soon as it has seen enough of a bad PDU, so a refused write ends the
        sending quietly. The writes go through a duplicate of the socket: a write refused
        on the stream's own transport would fail its reader too, before the subagent's
        Close could be read."""
        loop = asyncio.get_running_loop()
        transport_socket = self.writer.get_extra_info("socket")
        with socket.socket(fileno=os.dup(transport_socket.fileno())) as raw:
            raw.setblocking(False)
            for start in range(0, len(data), size):
                try:
                    await asyncio.wait_for(loop.sock_sendall(raw, data[start:start + size]),
                                           WAIT)
                except (BrokenPipeError, ConnectionResetError):
                    return

    async def ask(self, pdu, network_byte_order: bool = True):
        self.send(pdu, network_byte_order)
        answer = await self.read()
        assert isinstance(answer, codec.Response), answer
        assert (answer.session_id, answer.packet_id) == (pdu.session_id, pdu.packet_id)
        return answer

    def next_id(self) -> int:
        self.packet_id += 1
        return self.packet_id

    async def handshake(self, refuse: dict | None = None) -> list[codec.Register]:
        """Answer Open with SESSION and each Register with noError or refuse[subtree], each
        Unregister with noError. Registers of the master's `probes` (OIDs a subagent
        registers and unregisters before a subtree, to find another agent's objects) go to
        self.probed; a refused probe counts as one of the expected registrations (its
        subtree is then never registered). Returns the other Registers."""
        opened = await self.read()
        assert isinstance(opened, codec.Open), opened
        self.send(codec.Response(session_id=SESSION, packet_id=opened.packet_id))
        registers, refused_probes, self.probed = [], 0, []
        while len(registers) + refused_probes < self.expected_registers:
            pdu = await self.read()
            assert isinstance(pdu, codec.Register | codec.Unregister), pdu
            assert pdu.session_id == SESSION and pdu.priority == 127
            error = ErrorCode.NO_ERROR
            if isinstance(pdu, codec.Register):
                error = (refuse or {}).get(pdu.subtree, ErrorCode.NO_ERROR)
                if pdu.subtree not in self.probes:
                    registers.append(pdu)
                else:
                    self.probed.append(pdu.subtree)
                    refused_probes += error != ErrorCode.NO_ERROR
            self.send(codec.Response(session_id=SESSION, packet_id=pdu.packet_id, error=error))
        return registers

    async def expect_close(self, reason: CloseReason) -> None:
        """The subagent sends Close with `reason`, then closes the connection."""
        close = await self.read()
        assert isinstance(close, codec.Close), close
        assert close.reason == reason and close.session_id == SESSION
        assert await self.read() is None  # EOF: the subagent dropped the connection

    def close(self) -> None:
        self.writer.close()


class FakeMaster:
    def __init__(self, path, expected_registers: int = 1, probes=()):
        self.path = str(path)
        self.expected_registers = expected_registers
        self.probes = frozenset(probes)
        self.accepted: asyncio.Queue[FakeConnection] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._accept, self.path)

    async def start_tcp(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader, writer) -> None:
        connection = FakeConnection(reader, writer)
        connection.expected_registers = self.expected_registers
        connection.probes = self.probes
        await self.accepted.put(connection)

    async def connection(self, timeout: float = WAIT) -> FakeConnection:
        return await asyncio.wait_for(self.accepted.get(), timeout)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class Heartbeat:
    """Ticks every 10 ms on the loop: the largest gap shows whether anything blocked it."""

    def __init__(self):
        self.largest_gap = 0.0
        self._task = None

    async def _beat(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.largest_gap = max(self.largest_gap, now - last)
            last = now

    def __enter__(self):
        self._task = asyncio.get_running_loop().create_task(self._beat())
        return self

    def __exit__(self, *exc):
        self._task.cancel()


def raw(pdu_type, payload=b"", *, session=SESSION, version=1, length=None, flags=0x10):
    size = len(payload) if length is None else length
    return struct.pack(">BBBxIIII", version, pdu_type, flags, session, 1, 77, size) + payload


GET, GET_NEXT, RESPONSE = codec.PduType.GET, codec.PduType.GET_NEXT, codec.PduType.RESPONSE
HOSTILE = [
    ("bad_version", raw(GET, version=3)),
    ("unknown_type", raw(42)),
    ("payload_too_large", raw(GET, length=0xFFFFFFF0)),
    ("bad_payload_length", raw(GET, bytes(6))),
    ("truncated", raw(GET_NEXT, bytes([20, 0, 0, 0]) + bytes(8))),  # OID of 20, 2 present
    ("trailing_bytes", raw(codec.PduType.COMMIT_SET, bytes(4))),
    ("oid_too_long", raw(GET_NEXT, bytes([200, 0, 0, 0]) + bytes(800))),
    ("unknown_value_type", raw(codec.PduType.TEST_SET, struct.pack(">HH", 99, 0) + bytes(4))),
    ("bad_value", raw(codec.PduType.TEST_SET, struct.pack(">HH", 64, 0) + bytes(4)
                      + struct.pack(">I", 3) + bytes(4))),  # IpAddress of 3 bytes
    ("too_many_items", raw(GET_NEXT, bytes(8 * (codec.MAX_ITEMS + 1)))),
    ("unexpected_type", encode(codec.Register(session_id=SESSION, subtree=SOME_SUBTREE))),
    ("unknown_session", encode(codec.Get(session_id=SESSION + 1, ranges=()))),
]
PROTOCOL = {"unexpected_type", "unknown_session"}


async def wait_until(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
