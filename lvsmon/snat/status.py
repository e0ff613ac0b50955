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
from dataclasses import dataclass, field
from pathlib import Path

from lvsmon.errors import SnatStoreUnavailable
from lvsmon.snat.record import iso_utc
from lvsmon.snat.store_sqlite import SqliteStore, StoreSummary

STALE_AFTER_SECONDS = 10.0  # the recorder writes every second; ten missed writes: not running


@dataclass(frozen=True)
class SnatStatus:
    status_file: str
    read_ns: int
    running: bool
    recorder: dict = field(default_factory=dict)  # the status file as the recorder wrote it
    problem: str | None = None  # why the status file could not be read
    store_path: str | None = None
    store: StoreSummary | None = None
    store_problem: str | None = None

    def count(self, name: str) -> int:
        """A counter of the recorder since it started (0 when it did not say)."""
        value = self.recorder.get(name)
        return value if isinstance(value, int) else 0

    @property
    def lost_events(self) -> int:
        """Events lost since the recorder started. The kernel's drop count of the event
        socket; where the kernel gives none, each overflow (ENOBUFS) counts as one."""
        return max(self.count("lost_events"), self.count("overflows"))

    @property
    def not_running_because(self) -> str | None:
        """Why the recorder is taken as not running, in words; None when it runs."""
        if self.running:
            return None
        if self.problem:
            return self.problem
        updated = self.recorder.get("updated_ns")
        if self.recorder.get("stopped"):
            return f"stopped at {iso_utc(updated)}"
        if isinstance(updated, int):
            age = (self.read_ns - updated) / 1e9
            if age >= STALE_AFTER_SECONDS:
                return f"status file {self.status_file} not updated for {age:.0f} s"
        return f"process {self.recorder.get('pid')} is gone"

    def as_dict(self) -> dict:
        """The shape `lvsmon snat status --json` prints."""
        info: dict = {"running": self.running}
        info.update(self.recorder)
        info["running"] = self.running
        if self.problem:
            info["problem"] = self.problem
        if self.store is not None:
            info["records_stored"] = self.store.records
            info["open_records"] = self.store.open_records
            info["oldest_record"] = iso_utc(self.store.oldest_start_ns)
            info["lost_in_store"] = self.store.lost_by_kind
        if self.store_problem:
            info["store_problem"] = self.store_problem
        return info


def read_status(status_file: str | Path, store: str | None = None,
                default_store: str | None = None,
                stale_after_seconds: float = STALE_AFTER_SECONDS) -> SnatStatus:
    """Read the status file, then the store: `store`, else the one the recorder writes,
    else `default_store`. Never raises for a missing or unreadable file: it says so."""
    path = Path(status_file)
    recorder: dict = {}
    problem = None
    running = False
    read_ns = time.time_ns()
    try:
        recorder = json.loads(path.read_text())
        fresh = read_ns - recorder["updated_ns"] < stale_after_seconds * 1e9
        running = bool(fresh and not recorder.get("stopped") and _alive(recorder["pid"]))
    except FileNotFoundError:
        problem = f"no status file {path}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = f"unreadable status file {path}: {exc}"
    if not isinstance(recorder, dict):
        recorder, problem = {}, f"unreadable status file {path}: not a JSON object"
    store_path = store or recorder.get("store") or default_store
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
    return SnatStatus(str(path), read_ns, running, recorder, problem, store_path, summary,
                      store_problem)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
