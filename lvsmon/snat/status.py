"""One reading of what the SNAT recorder reports: its status file and its store's summary.

`lvsmon snat run` rewrites its status file every second (lvsmon.snat.service). The
`lvsmon snat status` command, check_snat and the Prometheus exporter all render a
SnatStatus read here; none of them talks to the recorder, so a slow reader never slows
recording.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from lvsmon.errors import SnapshotDecodeError, SnatStoreUnavailable
from lvsmon.model.codec import from_json
from lvsmon.model.snat import RecorderStatus, SnatStatus
from lvsmon.snat.store_sqlite import SqliteStore

STALE_AFTER_SECONDS = 10.0  # the recorder writes every second; ten missed writes: not running


def read_status(status_file: str | Path, store: str | None = None,
                default_store: str | None = None,
                stale_after_seconds: float = STALE_AFTER_SECONDS) -> SnatStatus:
    """Read the status file, then the store: `store`, else the one the recorder writes,
    else `default_store`. Never raises for a missing or unreadable file: it says so."""
    path = Path(status_file)
    recorder: RecorderStatus | None = None
    problem = None
    running = False
    read_ns = time.time_ns()
    try:
        recorder = from_json(RecorderStatus, json.loads(path.read_text()))
        fresh = read_ns - recorder.updated_ns < stale_after_seconds * 1e9
        running = fresh and not recorder.stopped and _alive(recorder.pid)
    except FileNotFoundError:
        problem = f"no status file {path}"
    except (OSError, ValueError, SnapshotDecodeError) as exc:
        problem = f"unreadable status file {path}: {exc}"
    store_path = store or (recorder.store if recorder else None) or default_store
    summary, store_problem = None, None
    if store_path:
        try:
            db = SqliteStore(store_path, readonly=True)
            try:
                summary = db.summary()
            finally:
                db.close()
        except SnatStoreUnavailable as exc:
            store_problem = str(exc)
    return SnatStatus(str(path), read_ns, stale_after_seconds, running, recorder, problem,
                      store_path, summary, store_problem)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
