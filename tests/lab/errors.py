"""Errors of the test lab. Each says what failed and shows the evidence (stderr, last state)."""

from __future__ import annotations

import subprocess


class LabError(Exception):
    """Something in building, running or tearing down a lab went wrong."""


class CommandError(LabError, subprocess.CalledProcessError):
    """A command run by the lab exited non-zero; the message carries its stderr."""

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str):
        subprocess.CalledProcessError.__init__(self, returncode, argv, stdout, stderr)

    def __str__(self) -> str:
        detail = (self.stderr or "").strip() or (self.stdout or "").strip() or "(no output)"
        return f"command {self.cmd!r} exited {self.returncode}: {detail}"


class WaitTimeout(LabError):
    """A condition given to wait_for() did not hold in time."""
