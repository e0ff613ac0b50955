"""Asking the lvsmon daemon over its status socket: the client side, for the CLI and checks.

    ask_state("/run/lvsmon/status.sock")            -> DaemonState
    ask_source("/run/lvsmon/status.sock", "vrrp")   -> SourceState[ObserverSnapshot]
    ask(path, "ipvs")                               -> the raw JSON answer (prefer the typed ones)

One JSON request line out, one JSON answer line back (the protocol is described in
lvsmon.status_socket, which holds the server). Plain blocking sockets and no asyncio: a
Nagios check is a fresh process per run and pays for every module it imports.
"""

from __future__ import annotations

import json
import socket

from lvsmon.errors import DaemonNotRunning, SnapshotDecodeError, StatusSocketError
from lvsmon.model.codec import from_json
from lvsmon.model.daemon import SOURCES, DaemonState, SourceState

CLIENT_TIMEOUT_SECONDS = 5.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


def ask_state(path: str, timeout: float = CLIENT_TIMEOUT_SECONDS) -> DaemonState:
    """The daemon's whole state, typed; raises DaemonNotRunning or StatusSocketError."""
    return _typed(path, DaemonState, ask(path, "all", timeout))


def ask_source(path: str, part: str, timeout: float = CLIENT_TIMEOUT_SECONDS) -> SourceState:
    """One source's state ("vrrp", "participant", "ipvs", "snat"), typed."""
    return _typed(path, SOURCES[part], ask(path, part, timeout).get(part))


def _typed(path: str, kind, document):
    try:
        return from_json(kind, document)
    except SnapshotDecodeError as exc:
        raise StatusSocketError(
            f"{path}: the daemon's answer does not fit this lvsmon: {exc}",
            hint="are the daemon and this command the same lvsmon version?",
        ) from None


def ask(path: str, part: str = "all", timeout: float = CLIENT_TIMEOUT_SECONDS) -> dict:
    """One request to a running daemon, its answer as JSON; raises DaemonNotRunning or
    StatusSocketError. Prefer ask_state / ask_source, which give typed values."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonNotRunning(
                f"no lvsmon daemon at {path}", hint="start it with `lvsmon run`"
            ) from None
        except PermissionError:
            raise StatusSocketError(
                f"{path}: permission denied",
                hint="run as root or as a member of the daemon's group",
            ) from None
        sock.sendall(json.dumps({"get": part}).encode() + b"\n")
        data = _read_all(sock, path, timeout)
    except TimeoutError:
        raise StatusSocketError(
            f"lvsmon daemon at {path} did not answer within {timeout:g} s"
        ) from None
    except OSError as exc:
        raise StatusSocketError(f"{path}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        reply = json.loads(data)
    except ValueError:
        raise StatusSocketError(f"{path}: the answer is not JSON") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else None
        raise StatusSocketError(f"lvsmon daemon refused the request: {error}")
    return reply


def _read_all(sock: socket.socket, path: str, timeout: float) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise StatusSocketError(f"{path}: answer larger than {MAX_ANSWER_BYTES} bytes")
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)
