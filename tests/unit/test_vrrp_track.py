"""Track commands: exit codes, hard timeouts, and no process left behind (real processes)."""

from __future__ import annotations

import asyncio
import os
import time

from lvsmon.vrrp.track import run_command


def test_exit_codes():
    assert asyncio.run(run_command(["true"], 5)).ok
    failed = asyncio.run(run_command(["false"], 5))
    assert (failed.ok, failed.detail) == (False, "exit 1")
    missing = asyncio.run(run_command(["/nonexistent/check"], 5))
    assert not missing.ok and missing.detail.startswith("cannot run /nonexistent/check")


def test_hung_command_and_its_children_are_killed_at_the_timeout(tmp_path):
    pidfile = tmp_path / "pids"
    # A check that forks a grandchild, then hangs: both must go.
    script = f"sleep 1000 & echo $! > {pidfile}; echo $$ >> {pidfile}; wait"
    started = time.monotonic()
    result = asyncio.run(run_command(["sh", "-c", script], 0.5))
    elapsed = time.monotonic() - started
    assert (result.ok, result.detail) == (False, "timed out after 0.5 s, killed")
    assert 0.5 <= elapsed < 1.5
    grandchild, shell = (int(pid) for pid in pidfile.read_text().split())
    # Killed: gone, or a zombie waiting for init (the grandchild's parent died first).
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(_running(pid) for pid in (grandchild, shell)):
        time.sleep(0.05)
    assert not any(_running(pid) for pid in (grandchild, shell))


def _running(pid: int) -> bool:
    state = _state(pid)
    return bool(state) and "zombie" not in state


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(line for line in handle if line.startswith("State:"))
    except OSError:
        return ""


def test_cancelled_check_is_killed_too():
    async def cancel_soon():
        task = asyncio.create_task(run_command(["sleep", "1000"], 60))
        await asyncio.sleep(0.3)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    before = _sleepers()
    assert asyncio.run(cancel_soon())
    assert _sleepers() <= before


def _sleepers() -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if handle.read() == b"sleep\x001000\x00" and os.getppid() != int(entry):
                        found.add(int(entry))
            except OSError:
                continue
    return found
