"""Background processes started inside a namespace, and how to make sure they die.

Each process gets its own session (so stop() can signal the whole group, daemon
children included) and PR_SET_PDEATHSIG=SIGKILL (so it dies even if the test process
is SIGKILLed). The death signal follows the *thread* that started the process: spawn
from a thread that lives as long as the lab (normally the main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

from .errors import LabError
from .naming import is_running

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


_SIG_DFL = ctypes.c_void_p(0)


def _die_with_parent(parent_pid: int):
    """preexec_fn: ask the kernel to SIGKILL the child when its parent goes away, and give
    the child default SIGINT and SIGQUIT (a test run started in the background by a shell
    ignores both, and an ignored signal stays ignored across exec: Ctrl-C, as a test sends
    it, would do nothing)."""

    def preexec() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        for number in (signal.SIGINT, signal.SIGQUIT):  # libc's: any thread may have forked
            _libc.signal(int(number), _SIG_DFL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Process:
    """A process started by Namespace.spawn(); its stdout and stderr go to log_path."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict | None = None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        self.pid = self.popen.pid
        self._terminated = False

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.returncode}"
        return f"<Process {self.name} pid={self.pid} {state}>"

    @property
    def returncode(self) -> int | None:
        """Exit code (negative: killed by that signal), or None while it runs."""
        return self._exit_status()

    @property
    def alive(self) -> bool:
        return self._exit_status() is None

    def _exit_status(self) -> int | None:
        # Look without reaping (WNOWAIT): while the exited process is a zombie, its pid and
        # process group id stay ours, so stop() may still signal the group safely.
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.poll()
        if info is None:
            return None
        killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
        return -info.si_status if killed else info.si_status

    def log(self) -> str:
        """Everything the process wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def describe(self, lines: int = 20) -> str:
        """Name, state and the last lines of the log, for assertion and error messages."""
        tail = self.log_tail(lines) or "(empty log)"
        return f"{self!r}, log {self.log_path}:\n{tail}"

    def check_running(self) -> None:
        """Raise LabError with the log if the process has exited."""
        if not self.alive:
            raise LabError(f"process exited early: {self.describe()}")

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit and reap the process (stop() can then no longer reach its group)."""
        return self.popen.wait(timeout)

    def send_signal(self, signum: int) -> None:
        if self.alive:
            self.popen.send_signal(signum)

    def terminate(self) -> None:
        """SIGTERM the process group once, without waiting (stop() then waits)."""
        if self.popen.returncode is None and not self._terminated:
            self._terminated = True
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM the process group, SIGKILL it after `timeout` seconds; return the exit code.

        What the process forked into its group goes too. Signals go to the group only while
        the process is not reaped: after that its group id may belong to someone else.
        """
        if self.popen.returncode is None:
            self.terminate()
            if not self._wait_exit(timeout):
                self._signal_group(signal.SIGKILL)
                self._wait_exit(None)
            self._signal_group(signal.SIGKILL)
            self._wait_group_gone(timeout)
        return self.popen.wait()

    def _wait_exit(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def _wait_group_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(is_running(pid) for pid in _group_members(self.pid)):  # zombies done
                return
            time.sleep(0.02)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) == pgid:
                members.append(int(entry))
        except ProcessLookupError:
            continue
    return members
