"""A real StatusServer on a unix socket, serving a DaemonState the test (or benchmark) sets.

    with ServedState(tmp_path / "status.sock", state) as served:
        ...                      # clients (check_vrrp, lvsmon status) ask served.path
        served.state = other     # the next answer is built from this one

The server is lvsmon.status_socket's own, on an asyncio loop in a thread of its own, so
the caller's main thread stays free (a check run in-process keeps its SIGALRM deadline).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from lvsmon.model.daemon import DaemonState
from lvsmon.status_socket import StatusServer


class ServedState:
    def __init__(self, path: str | Path, state: DaemonState):
        self.path = str(path)
        self.state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="served-state", daemon=True)

    def __enter__(self) -> ServedState:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"the status server on {self.path} did not start in 30 s")
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(self, *exc_info) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to __enter__
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = StatusServer(self.path, lambda: self.state)
        await server.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()
