"""Remove what a killed lab run left behind: namespaces, their processes, temp dirs, markers.

A leftover is stale when the pid in its name ("lvsmt<pid>-...") belongs to no live
process (see naming.creator_alive). Live runs, e.g. a parallel test session, are left alone.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import LabError
from .naming import MARKER_DIR, creator_alive, creator_pid, remove_marker
from .netns import NETNS_DIR, delete_namespace

KEEP_FILE = ".keep"  # a temp dir kept for debugging (LVSMON_KEEP_LAB=1) holds this


def _stale(name: str) -> bool:
    pid = creator_pid(name)
    return pid is not None and not creator_alive(pid)


def _namespaces(wanted: Callable[[str], bool]) -> list[str]:
    try:
        names = sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []
    return [name for name in names if wanted(name)]


def _tmpdirs(wanted: Callable[[str], bool]) -> list[Path]:
    root = Path(tempfile.gettempdir())
    return sorted(
        path for path in root.iterdir()
        if creator_pid(path.name) is not None and wanted(path.name)
        and path.is_dir() and not path.is_symlink() and not (path / KEEP_FILE).exists()
    )


def _remove(wanted: Callable[[str], bool]) -> list[str]:
    """Remove our namespaces (with what runs inside) and temp dirs whose names are wanted."""
    removed, errors = [], []
    for name in _namespaces(wanted):
        try:
            delete_namespace(name)
            removed.append(f"netns {name}")
        except LabError as exc:
            errors.append(str(exc))
    for path in _tmpdirs(wanted):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(f"dir {path}")
    if errors:
        raise LabError("could not remove lab leftovers: " + "; ".join(errors))
    return removed


def remove_stale() -> list[str]:
    """Remove every leftover of a dead run; return what was removed (for a log line)."""
    removed = _remove(_stale)
    if MARKER_DIR.is_dir():
        for marker in MARKER_DIR.iterdir():
            if marker.name.isdigit() and not creator_alive(int(marker.name)):
                remove_marker(int(marker.name))
    if removed:
        print(f"lab: removed stale leftovers: {', '.join(removed)}", file=sys.stderr)
    return removed


def remove_run(prefix: str) -> list[str]:
    """Remove everything of the run with this prefix ("lvsmt<pid>-"), dead or not."""
    removed = _remove(lambda name: name.startswith(prefix))
    pid = creator_pid(prefix)
    if pid is not None:
        remove_marker(pid)
    return removed
