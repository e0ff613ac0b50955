"""Track commands and notify hooks: child processes that can never hang the participant.

Every command runs as an argv list (no shell) in its own session, so its whole process
group can be killed: a check still running at its timeout gets SIGKILL for the group
and counts as a failure. The asyncio loop only awaits, it never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT = 30.0
REAP_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RunResult:
    ok: bool
    detail: str  # "exit 0", "exit 3", "timed out after 1 s, killed", "cannot run: ..."


async def run_command(argv: tuple[str, ...] | list[str], timeout: float) -> RunResult:
    """Run argv; ok when it exits 0 within ``timeout`` seconds. Nothing outlives the call."""
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as a whole
        )
    except OSError as err:
        return RunResult(False, f"cannot run {argv[0]}: {err.strerror}")
    try:
        code = await asyncio.wait_for(_exit_code(process), timeout)
    except (TimeoutError, asyncio.CancelledError) as err:
        _kill_group(process.pid)
        await asyncio.shield(_reap(process))
        if isinstance(err, asyncio.CancelledError):
            raise
        return RunResult(False, f"timed out after {timeout:g} s, killed")
    # The leader exited: children it left in its group go too.
    _kill_group(process.pid)
    return RunResult(code == 0, f"exit {code}")


async def _exit_code(process: subprocess.Popen) -> int:
    """Wait for the exit through a pidfd: no SIGCHLD handler or asyncio child watcher,
    which other libraries' event loops (pyroute2 in a thread) can disturb."""
    loop = asyncio.get_running_loop()
    descriptor = os.pidfd_open(process.pid)
    exited = loop.create_future()
    loop.add_reader(descriptor, lambda: exited.done() or exited.set_result(None))
    try:
        await exited
    finally:
        loop.remove_reader(descriptor)
        os.close(descriptor)
    return process.wait()  # already exited: returns at once


async def _reap(process: subprocess.Popen) -> None:
    try:
        await asyncio.wait_for(_exit_code(process), REAP_SECONDS)
    except TimeoutError:
        # Stuck in the kernel (uninterruptible sleep): SIGKILL lands when it leaves; a
        # thread reaps it then, so no zombie stays behind and the loop never blocks.
        log.warning("pid %d ignores SIGKILL for now; reaping it in the background", process.pid)
        threading.Thread(target=process.wait, daemon=True).start()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


class Tracker:
    """Runs one track command every ``interval`` seconds; calls ``changed(ok)`` on a change."""

    def __init__(self, config, changed):
        self.config = config
        self.changed = changed
        self.ok: bool | None = None  # None until the first result
        self.detail = "not run yet"

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            result = await run_command(self.config.command, self.config.timeout)
            self.detail = result.detail
            if result.ok != self.ok:
                self.ok = result.ok
                self.changed(self)
            await asyncio.sleep(max(0.0, self.config.interval - (loop.time() - started)))


async def notify(argv: tuple[str, ...], *arguments: str) -> None:
    """Run a notify hook with extra arguments; log its failure, never raise."""
    result = await run_command((*argv, *arguments), NOTIFY_TIMEOUT)
    if not result.ok:
        log.warning("notify %s %s: %s", argv[0], " ".join(arguments), result.detail)
