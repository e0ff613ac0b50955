"""Shared pytest setup: the `lab` fixture (network namespaces, real daemons) and stale cleanup."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.lab import Lab, remove_stale


@functools.cache
def lab_unavailable() -> str | None:
    """Why lab tests cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces)"
    if shutil.which("ip") is None:
        return "lab tests need iproute2 (`ip`)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` is unavailable: {probe.stderr.strip()}"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    # Leftovers of a killed earlier run (namespaces, their daemons, temp dirs) go first.
    if lab_unavailable() is None:
        remove_stale()


@pytest.fixture
def lab_required() -> None:
    """Skip the test when namespaces cannot be made (not root, no `ip netns`)."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def lab(lab_required) -> Iterator[Lab]:
    """A fresh Lab per test; everything it made is gone when the test ends, pass or fail."""
    with Lab() as the_lab:
        yield the_lab
