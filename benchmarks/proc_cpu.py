"""CPU time of processes, from /proc, for the benchmarks that compare lvsmon's cost with a
reference's (counted in clock ticks, usually 10 ms: measure over many operations)."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """cpu_seconds of a process and of its living descendants (keepalived's children)."""
    total, todo = 0.0, [pid]
    while todo:
        proc = Path("/proc") / str(todo.pop())
        try:
            total += cpu_seconds(int(proc.name))
            for task in (proc / "task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
    return total
