"""The daemon's local status socket: one JSON request line in, one JSON answer line out.

    {"get": "vrrp"}          the observer's segment views
    {"get": "participant"}   the VRRP participant's instances and state-change events
    {"get": "ipvs"}          the last IPVS table, or why there is none
    {"get": "all"}           everything; every answer also carries "daemon"

Answers are {"ok": true, ...} or {"ok": false, "error": "..."}. They are built
from the last published DaemonState only, so an answer never waits on a source;
a request that is too long, not JSON or not understood gets an error answer.

The answer's parts are the JSON encoding of lvsmon.model.daemon (lvsmon.model.codec).
The client side (ask, ask_state, ask_source) is lvsmon.status_client: it imports no
asyncio, so a one-shot check that asks the daemon starts fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from lvsmon.errors import StatusSocketError
from lvsmon.model.codec import to_json
from lvsmon.model.daemon import PARTS, DaemonState

MAX_REQUEST_BYTES = 4096
READ_TIMEOUT_SECONDS = 5.0
SOCKET_MODE = 0o660
DIRECTORY_MODE = 0o750

log = logging.getLogger(__name__)


def answer(state: DaemonState, line: bytes) -> dict:
    """The answer to one request line; never raises for a bad request."""
    try:
        request = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return _error('request is not JSON: send one line like {"get": "all"}')
    if not isinstance(request, dict):
        return _error('request must be a JSON object like {"get": "all"}')
    unknown = set(request) - {"get"}
    if unknown:
        return _error(f'unknown request key {sorted(unknown)[0]!r}: only "get" is known')
    part = request.get("get", "all")
    if not isinstance(part, str) or part not in PARTS:
        return _error(f"get {part!r}: one of {', '.join(PARTS)}")
    if part == "all":
        return {"ok": True, **to_json(state)}
    reply = {"ok": True, "daemon": to_json(state.daemon)}
    if part != "daemon":
        reply[part] = to_json(getattr(state, part))
    return reply


def _error(message: str) -> dict:
    return {"ok": False, "error": message}


class StatusServer:
    """Serves answers from ``current()`` (the state store's latest) on a unix socket."""

    def __init__(self, path: str, current: Callable[[], DaemonState]):
        self.path = path
        self.current = current
        self.requests = 0
        self.bad_requests = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        directory = Path(self.path).parent
        if not directory.exists():
            directory.mkdir(mode=DIRECTORY_MODE, parents=True)
        self._remove_stale()
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=self.path, limit=MAX_REQUEST_BYTES
            )
        except OSError as exc:
            raise StatusSocketError(
                f"cannot listen on {self.path}: {exc.strerror}",
                hint="check the directory and its permissions, or set [daemon] status_socket",
            ) from None
        os.chmod(self.path, SOCKET_MODE)  # bind() follows the umask; the mode is ours

    def _remove_stale(self) -> None:
        """A socket file left by a killed daemon is removed; a live daemon's is not."""
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise StatusSocketError(f"{self.path} exists and is not a socket", hint="remove it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(self.path)
        except OSError:
            os.unlink(self.path)
            return
        finally:
            probe.close()
        raise StatusSocketError(
            f"another lvsmon daemon is answering on {self.path}", hint="stop it first"
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await self._reply(reader)
            writer.write(data)
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT_SECONDS)
        except (OSError, TimeoutError) as exc:
            log.debug("status socket client went away: %s", exc)
        except Exception:  # a bug in one answer must not end the server
            log.exception("status socket: answer failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _reply(self, reader: asyncio.StreamReader) -> bytes:
        self.requests += 1
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_SECONDS)
        except TimeoutError:
            return self._refuse(f"no request line within {READ_TIMEOUT_SECONDS:g} s")
        except (asyncio.LimitOverrunError, ValueError):
            return self._refuse(f"request longer than {MAX_REQUEST_BYTES} bytes")
        if not line.strip():
            return self._refuse('empty request: send one line like {"get": "all"}')
        # The state is immutable, so a worker thread may turn it into JSON: a table of
        # 10,000 real servers takes a third of a second, which the loop must not spend.
        ok, data = await asyncio.to_thread(_encoded_answer, self.current(), line)
        if not ok:
            self.bad_requests += 1
        return data

    def _refuse(self, message: str) -> bytes:
        self.bad_requests += 1
        return _encode(_error(message))


def _encoded_answer(state: DaemonState, line: bytes) -> tuple[bool, bytes]:
    reply = answer(state, line)
    return reply["ok"], _encode(reply)


def _encode(reply: dict) -> bytes:
    # iterencode (pure Python) lets the GIL go to the loop's thread between chunks;
    # json.dumps' C encoder would hold it for a whole 4 MB table.
    return "".join(_ENCODER.iterencode(reply)).encode() + b"\n"


_ENCODER = json.JSONEncoder()
