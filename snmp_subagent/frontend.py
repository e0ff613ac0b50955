"""The AgentX subagent as a frontend of `lvsmon run` (entry point lvsmon.frontends: agentx).

Off unless [agentx] enabled. Then it registers with snmpd's master agent
(lvsmon_snmp.agentx.Subagent) the subtrees of mapping.subtrees(base) and answers from an
OID index rebuilt from the published DaemonState after every publish, off the loop
(indexer.IndexWorker: one thread, coalesced, per area, held back while snmpd walks, at
most 1 s), so an answer never waits on a source or on a rebuild. A reload restarts the
session only when [agentx] changed.

Notifications come from two successive states (lvsmon_snmp.mib.notifications), computed
in the store's subscriber for the areas whose snapshot changed only, and go out as AgentX
Notify without waiting for snmpd's answer (Subagent.notify). The IPVS comparison alone
runs in a thread of its own, in order (a table of 10,000 real servers takes tens of
milliseconds to compare, which the loop must not spend). ifIndex values come from the
interface names (indexer.InterfaceIndexes); routerId is the host name, as keepalived's
default router_id.

The frontend reports itself once a second (store.publish_frontend("agentx", ...)):
connected or not and why, the master, the subtrees served and refused, and counters:
requests answered, bad PDUs by reason, reconnects, notifications, index rebuilds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from lvsmon.config import Config
from lvsmon.errors import UsageError
from lvsmon.model.daemon import DaemonState, FrontendState
from lvsmon.model.frozen import FrozenDict
from lvsmon.state import StateStore
from lvsmon_snmp.agentx import AgentxSettings, Subagent, Subtree
from lvsmon_snmp.indexer import AreaIndexes, IndexWorker, InterfaceIndexes, to_value
from lvsmon_snmp.mib import mapping
from lvsmon_snmp.mib import notifications as notes

NAME = "agentx"
REPORT_SECONDS = 1.0
log = logging.getLogger("lvsmon.agentx")


class Agentx:
    name = NAME

    def __init__(self) -> None:
        self.store: StateStore | None = None
        self.settings: AgentxSettings | None = None
        self.subagent: Subagent | None = None
        self.worker: IndexWorker | None = None
        self.router_id = socket.gethostname()
        self.interfaces = InterfaceIndexes()
        self.raised: Counter[str] = Counter()  # notifications computed, by name
        self._previous: DaemonState | None = None
        self._reporter: asyncio.Task | None = None
        self._subscribed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ipvs_diffs: ThreadPoolExecutor | None = None

    # -- the daemon's Frontend protocol ------------------------------------------------

    def check(self, config: Config) -> tuple[str, ...]:
        try:
            AgentxSettings.from_config(config.agentx)
        except UsageError as exc:
            return (str(exc),)
        return ()

    async def start(self, store: StateStore, config: Config) -> None:
        self.store = store
        self._loop = asyncio.get_running_loop()
        if not self._subscribed:
            store.subscribe(self._changed)
            self._subscribed = True
        await self._apply(AgentxSettings.from_config(config.agentx))

    async def reload(self, config: Config) -> None:
        await self._apply(AgentxSettings.from_config(config.agentx))

    async def stop(self) -> None:
        await self._close()
        self._report()

    # -- settings ----------------------------------------------------------------------

    async def _apply(self, settings: AgentxSettings) -> None:
        if settings == self.settings:
            return  # unchanged: the session goes on
        if self.settings is not None:
            log.info("AgentX: [agentx] changed; %s", "restarting the session"
                     if settings.enabled else "closing the session")  # fmt: skip
        await self._close()
        self.settings = settings
        if settings.enabled:
            await self._open(settings)
        self._report()

    async def _open(self, settings: AgentxSettings) -> None:
        indexes = AreaIndexes(mapping.areas(settings.base), self.interfaces, self.router_id,
                              settings.base)  # fmt: skip
        state = self.store.current
        first = await asyncio.to_thread(indexes.build, state)  # served from the first answer
        subtrees = [Subtree(oid, probes=mapping.PROBES.get(oid, ()))
                    for oid in mapping.subtrees(settings.base).values()]
        self.subagent = Subagent(settings, subtrees, first)
        subagent = self.subagent
        self.worker = IndexWorker(indexes, subagent.update, lambda: subagent.last_request)
        self._ipvs_diffs = ThreadPoolExecutor(1, thread_name_prefix="agentx-ipvs-diff")
        self._previous = state
        self.worker.request(self.store.current)  # a publish may have come meanwhile
        await self.subagent.start()
        self._reporter = asyncio.get_running_loop().create_task(self._report_often(),
                                                                name="agentx-report")

    async def _close(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self._ipvs_diffs is not None:
            self._ipvs_diffs.shutdown(wait=False, cancel_futures=True)
            self._ipvs_diffs = None
        if self.subagent is not None:
            subagent, self.subagent = self.subagent, None
            await subagent.stop()
        self._previous = None

    # -- every publish (on the loop; must not block) -------------------------------------

    def _changed(self, state: DaemonState) -> None:
        worker, subagent = self.worker, self.subagent
        if worker is None or subagent is None:
            return
        previous, self._previous = self._previous, state
        worker.request(state)
        if previous is None or previous is state:
            return
        self._send(subagent, self._notifications(previous, state))
        if previous.ipvs.snapshot is not state.ipvs.snapshot or (
                previous.ipvs.available != state.ipvs.available):
            self._ipvs_diffs.submit(self._compare_ipvs, subagent, previous, state)

    def _compare_ipvs(self, subagent: Subagent, old: DaemonState, new: DaemonState) -> None:
        """In the diff thread: the real servers that came, went or crossed weight 0."""
        try:
            found = list(notes.real_server_notifications(old, new, router_id=self.router_id))
        except Exception:  # a bug must not stop the next comparisons
            log.exception("AgentX: comparing two IPVS tables failed")
            return
        if found:
            with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
                self._loop.call_soon_threadsafe(self._send, subagent, found)

    def _send(self, subagent: Subagent, found: list[notes.Notification]) -> None:
        for note in found:
            self.raised[note.name] += 1
            varbinds = [(oid, to_value(kind, value)) for oid, kind, value in note.varbinds]
            subagent.notify(note.trap, varbinds)
            log.debug("AgentX: notification %s", note.name)

    def _notifications(self, old: DaemonState, new: DaemonState) -> list[notes.Notification]:
        """What changed between two states, looking only at the parts that did (IPVS aside:
        see _compare_ipvs)."""
        if_index, router_id = self.interfaces, self.router_id
        base = self.settings.base
        found = []
        if old.participant is not new.participant:
            found += notes.participant_notifications(old, new, if_index=if_index,
                                                     router_id=router_id)  # fmt: skip
        if old.vrrp is not new.vrrp:
            found += notes.segment_notifications(old, new, if_index=if_index, base=base)
        if any(getattr(old, name) is not getattr(new, name) for name in
               ("vrrp", "participant", "ipvs", "snat")):  # fmt: skip
            found += notes.source_notifications(old, new, base=base)
        return found

    # -- reporting -----------------------------------------------------------------------

    async def _report_often(self) -> None:
        while True:
            await asyncio.sleep(REPORT_SECONDS)
            self._report()

    def _report(self) -> None:
        if self.store is None:
            return
        settings, subagent = self.settings, self.subagent
        if subagent is None:
            state = FrontendState(running=False)
        else:
            status = subagent.status()
            refused = tuple(subtree if why == "duplicateRegistration" else f"{subtree} ({why})"
                            for subtree, why in status["refused_subtrees"].items())
            state = FrontendState(
                running=True, connected=status["connected"],
                error=None if status["connected"] else status["last_problem"],
                endpoints=(str(settings.address),), served=tuple(status["served_subtrees"]),
                refused=refused, counters=FrozenDict(self._counters(status)))  # fmt: skip
        self.store.publish_frontend(NAME, state)

    def _counters(self, status: dict) -> dict[str, int]:
        counters = {name: status[name] for name in (
            "connect_attempts", "sessions_opened", "reconnects", "notifications_sent",
            "index_size")}  # fmt: skip
        for group in ("pdus_answered", "bad_pdus", "session_ends", "notifications_failed"):
            for key, count in status[group].items():
                counters[f"{group}.{key}"] = count
        for name, count in self.raised.items():
            counters[f"notifications_raised.{name}"] = count
        counters["slowest_answer_microseconds"] = round(status["slowest_answer_seconds"] * 1e6)
        worker = self.worker
        if worker is not None:
            counters["index_builds"] = worker.builds
            counters["index_builds_deferred"] = worker.deferred
            counters["index_area_reuses"] = sum(worker.indexes.reused.values())
            counters["index_build_failures"] = worker.failures
            counters["index_rows_left_out"] = sum(worker.indexes.bad_rows.values())
        return counters
