"""The drain guard of `lvsmon run`: drains that keepalived does not undo.

keepalived (2.2.7 on a real IPVS kernel: tests/vm/guest/test_drain_hold.py) writes a real
server's configured weight back into IPVS when its health check fails and passes again (what
a redeploy does), when keepalived restarts, when a reload changes the weight, and when a
virtual server gets its quorum back after the sorry server served. So a weight 0 set by
`lvsmon drain` lets traffic back onto a server in the middle of its deploy. IPVS tells
nobody of a change, so the guard looks: every GUARD_SECONDS, in a thread of its own, it
reads drained.json under the drain lock (shared), dumps only the services that hold
drains, and sets weight 0 again where a drained real server has more; each time is
logged at notice and counted.

What it owns is exactly the entries of drained.json. It never adds or removes a real
server, never touches one that is not in the file, and never writes a weight other than 0.
`lvsmon undrain` takes the lock exclusively and removes the entry before it restores the
weight, so the two never fight. A drain made while the daemon was down is held from the
guard's first look. The daemon runs the guard while [keepalived] config is set.

    guard = DrainGuard(DrainState("/var/lib/lvsmon"), IpvsNetlink())
    snapshot = guard.check()         # one look; blocking (a worker thread's job)
    await hold_drains(state_dir, succeeded, failed)   # the daemon: a thread looking forever
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lvsmon.errors import LvsmonError, NotFound
from lvsmon.logs import NOTICE
from lvsmon.model import RealServer, ServiceKey
from lvsmon.model.drain import DrainGuardSnapshot, HeldDrain
from lvsmon.pool import DrainState, DrainTarget

GUARD_SECONDS = 0.2  # between two looks: well under any [ipvs] interval (0.5 s at least)
RETRY_SECONDS = 1.0  # after a failed look (no IPVS, no permission, unreadable state)
PUBLISH_SECONDS = 0.5  # an unchanged snapshot is published this often (to show it is alive)
JOIN_SECONDS = 5.0

log = logging.getLogger("lvsmon.drain_guard")


class GuardTable(Protocol):
    """What the guard needs of IPVS (lvsmon.ipvs.IpvsNetlink has it)."""

    def read_real_servers(self, key: ServiceKey) -> tuple[RealServer, ...]:
        """The service's real servers; NotFound when the service does not exist."""
        ...

    def set_weight(self, key: ServiceKey, address: str, port: int, weight: int) -> object: ...


@dataclass
class _Record:
    """What the guard remembers of one drain between looks."""

    reasserted: int = 0
    last_reasserted_at: float | None = None
    restored_weight: int | None = None


@dataclass(frozen=True)
class _Entry:
    target: DrainTarget
    saved_weight: int
    drained_at: str | None


class DrainGuard:
    """One look at a time (check()); the counters live as long as the object."""

    def __init__(self, state: DrainState, table: GuardTable, interval: float = GUARD_SECONDS,
                 clock: Callable[[], float] = time.time):  # fmt: skip
        self.state = state
        self.table = table
        self.interval = interval
        self.clock = clock
        self.checks = 0
        self.reasserted_total = 0
        self._records: dict[str, _Record] = {}

    def check(self) -> DrainGuardSnapshot:
        """Read the drains, look at their services, put back weight 0 where it is gone.

        Raises LvsmonError when the state file or IPVS cannot be read (nothing is changed
        then); a drained service or real server missing from IPVS is not an error.
        """
        with self.state.shared() as saved:  # no drain or undrain until the look is over
            entries, problems = _entries(saved)
            weights = self._look(entries)
        self.checks += 1
        keys = {entry.target.state_key for entry in entries}
        self._records = {key: record for key, record in self._records.items() if key in keys}
        drains = []
        for entry in entries:
            record = self._records.get(entry.target.state_key, _Record())
            drains.append(HeldDrain(
                service=str(entry.target.service), real_server=entry.target.real_server,
                saved_weight=entry.saved_weight, drained_at=entry.drained_at,
                weight=weights[entry.target.state_key], reasserted=record.reasserted,
                last_reasserted_at=record.last_reasserted_at,
                restored_weight=record.restored_weight,
            ))  # fmt: skip
        return DrainGuardSnapshot(
            state_dir=str(self.state.directory), interval_seconds=self.interval,
            drains=tuple(sorted(drains, key=lambda d: (d.service, d.real_server))),
            checks=self.checks, reasserted_total=self.reasserted_total,
            checked_at=self.clock(), problems=problems,
        )  # fmt: skip

    def _look(self, entries: list[_Entry]) -> dict[str, int | None]:
        """The weight of each drain after this look (None: not in IPVS now)."""
        by_service: dict[ServiceKey, list[_Entry]] = {}
        for entry in entries:
            by_service.setdefault(entry.target.service, []).append(entry)
        weights: dict[str, int | None] = {}
        for key, drained in by_service.items():
            try:
                servers = {(rs.address, rs.port): rs for rs in self.table.read_real_servers(key)}
            except NotFound:
                servers = {}  # the service is gone (keepalived stopping or restarting)
            for entry in drained:
                target = entry.target
                rs = servers.get((target.address, target.port))
                if rs is None or rs.weight == 0:
                    weights[target.state_key] = None if rs is None else 0
                    continue
                weights[target.state_key] = self._reassert(entry, rs.weight)
        return weights

    def _reassert(self, entry: _Entry, found: int) -> int | None:
        target = entry.target
        try:
            self.table.set_weight(target.service, target.address, target.port, 0)
        except NotFound:
            return None  # removed between the dump and now
        record = self._records.setdefault(target.state_key, _Record())
        record.reasserted += 1
        record.last_reasserted_at = self.clock()
        record.restored_weight = found
        self.reasserted_total += 1
        log.log(NOTICE, "drain guard: %s had weight %d again; set to 0 (%d time%s since the "
                "daemon started)", target, found, record.reasserted,
                "" if record.reasserted == 1 else "s")  # fmt: skip
        return 0


def _entries(saved: dict) -> tuple[list[_Entry], tuple[str, ...]]:
    """The drains of drained.json; entries that cannot be read are reported, never touched."""
    entries, problems = [], []
    for key, value in sorted(saved.items()):
        try:
            target = DrainTarget.from_state_key(key)
        except LvsmonError as exc:
            problems.append(f"entry {key!r}: {exc}")
            continue
        weight = value.get("weight") if isinstance(value, dict) else None
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            problems.append(f"entry {key!r}: no saved weight (a whole number >= 0)")
            continue
        drained_at = value.get("drained_at")
        entries.append(_Entry(target, weight, drained_at if isinstance(drained_at, str) else None))
    return entries, tuple(problems)


# -- in the daemon ---------------------------------------------------------------------------


async def hold_drains(
    state_dir: Callable[[], str],
    succeeded: Callable[[DrainGuardSnapshot], None],
    failed: Callable[[str], None],
    table_factory: Callable[[], GuardTable] | None = None,
    interval: float = GUARD_SECONDS,
) -> None:
    """Run the guard until cancelled.

    The looks run in a thread of their own rather than on the loop's executor: a
    re-assertion must not wait behind a slow table read or a scrape. `state_dir` is asked
    before every look (a reload may move it); `succeeded` and `failed` are called on the
    loop, `succeeded` when the snapshot changed or PUBLISH_SECONDS passed.
    """
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    looker = _Looker(loop, stop, state_dir, succeeded, failed, table_factory, interval)
    thread = threading.Thread(target=looker.run, name="lvsmon-drain-guard", daemon=True)
    thread.start()
    try:
        await loop.create_future()  # until cancelled
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, JOIN_SECONDS)


class _Looker:
    def __init__(self, loop, stop, state_dir, succeeded, failed, table_factory, interval):
        self.loop = loop
        self.stop = stop
        self.state_dir = state_dir
        self.succeeded = succeeded
        self.failed = failed
        self.table_factory = table_factory or _netlink
        self.interval = interval
        self.guard: DrainGuard | None = None
        self._published: DrainGuardSnapshot | None = None
        self._published_at = 0.0

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            pause = self.interval
            try:
                snapshot = self._check()
            except LvsmonError as exc:
                self._drop_table()
                self._hand(self.failed, str(exc))
                pause = RETRY_SECONDS
            except Exception as exc:  # a bug must not end the guard
                log.exception("drain guard: a look failed")
                self._drop_table()
                self._hand(self.failed, f"internal error: {exc!r}")
                pause = RETRY_SECONDS
            else:
                self._publish(snapshot)
            self.stop.wait(max(0.0, started + pause - time.monotonic()))
        self._drop_table()

    def _check(self) -> DrainGuardSnapshot:
        directory = self.state_dir()
        if self.guard is None:
            self.guard = DrainGuard(DrainState(directory), self.table_factory(), self.interval)
        elif str(self.guard.state.directory) != directory:
            log.info("drain guard: drains now read from %s", directory)
            self.guard.state = DrainState(directory)
        if self.guard.table is None:
            self.guard.table = self.table_factory()
        return self.guard.check()

    def _drop_table(self) -> None:
        """After a failure the next look opens a fresh netlink socket."""
        if self.guard is not None and self.guard.table is not None:
            with contextlib.suppress(Exception):
                getattr(self.guard.table, "close", lambda: None)()
            self.guard.table = None

    def _publish(self, snapshot: DrainGuardSnapshot) -> None:
        now = time.monotonic()
        quiet = dataclasses.replace(snapshot, checks=0, checked_at=None)
        if quiet == self._published and now - self._published_at < PUBLISH_SECONDS:
            return
        self._published, self._published_at = quiet, now
        self._hand(self.succeeded, snapshot)

    def _hand(self, callback, value) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while stopping
            self.loop.call_soon_threadsafe(callback, value)


def _netlink() -> GuardTable:
    from lvsmon.ipvs import IpvsNetlink

    return IpvsNetlink()
