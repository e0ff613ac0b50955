"""Names the lab gives to what it creates, and how to tell a dead run's leftovers.

Every namespace and temp dir of one run starts with "lvsmt<pid>-", <pid> being the
process that created it. A leftover whose creator is dead is stale. Because a pid can
be reused, a run also leaves a marker (/run/lvsmon-lab/<pid>) holding its creator's
start time: a live pid with a different start time is a new process, the run is dead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PREFIX_BASE = "lvsmt"
MARKER_DIR = Path("/run/lvsmon-lab")
_OWNED = re.compile(rf"^{PREFIX_BASE}(\d+)-")
_SHORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")  # IFNAMSIZ is 16 with the NUL


def run_prefix(pid: int | None = None) -> str:
    return f"{PREFIX_BASE}{os.getpid() if pid is None else pid}-"


def creator_pid(name: str) -> int | None:
    """The pid encoded in a lab name, or None if the name is not one of ours."""
    match = _OWNED.match(name)
    return int(match.group(1)) if match else None


def check_short_name(name: str) -> str:
    if not _SHORT_NAME.match(name):
        raise ValueError(f"bad lab name {name!r}: use letters, digits, '_', '.', '-' (max 41)")
    return name


def check_ifname(name: str) -> str:
    if not _IFNAME.match(name):
        raise ValueError(f"bad interface name {name!r}: letters, digits, '_', '.', '-', max 15")
    return name


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (state first), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat.rpartition(")")[2].split()


def is_running(pid: int) -> bool:
    """True if the process exists and is not a zombie (a zombie runs nothing, holds nothing)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def start_time(pid: int) -> str | None:
    """Start time of a live process in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    return fields[19]


def write_marker(pid: int) -> None:
    try:
        MARKER_DIR.mkdir(mode=0o755, exist_ok=True)
        (MARKER_DIR / str(pid)).write_text(start_time(pid) or "")
    except OSError:
        pass  # the marker only guards against pid reuse; the pid check still works


def remove_marker(pid: int) -> None:
    (MARKER_DIR / str(pid)).unlink(missing_ok=True)


def creator_alive(pid: int) -> bool:
    started = start_time(pid)
    if started is None:
        return False
    try:
        recorded = (MARKER_DIR / str(pid)).read_text()
    except OSError:
        return True  # no marker: trust the pid
    return not recorded or recorded == started
