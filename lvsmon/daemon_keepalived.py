"""The daemon's keepalived sources ([keepalived] config in lvsmon.toml; off without it).

    keepalived        keepalived.conf and its includes, read in a worker thread at start, on
                      SIGHUP (reload()) and when one of the files changes (their times are
                      polled every POLL_SECONDS). A broken file is the source's error, with
                      file and line; the last good configuration stays published and used.
                      Each poll also reads this node's addresses, and the observer is handed
                      the expectations (lvsmon.keepalived.expect) when they change.
    keepalived_diff   the configuration against the IPVS table (lvsmon.keepalived.diff),
                      computed in a worker thread whenever either snapshot changes.

lvsmon.daemon runs both bodies as supervised sources; this module never reaches into
the observer beyond update_expectations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from lvsmon.config import KeepalivedConfig
from lvsmon.errors import LvsmonError
from lvsmon.keepalived.diff import compare
from lvsmon.keepalived.expect import expectations
from lvsmon.keepalived.watch import ConfigWatch
from lvsmon.model.daemon import DaemonState
from lvsmon.model.keepalived import KeepalivedConf
from lvsmon.model.vrrp import VrrpExpectation
from lvsmon.state import StateStore
from lvsmon.vrrp.local import local_addresses
from lvsmon.vrrp.observer import Observer

POLL_SECONDS = 3.0

log = logging.getLogger("lvsmon.keepalived")


class KeepalivedSources:
    def __init__(self, store: StateStore, settings: Callable[[], KeepalivedConfig],
                 observer: Callable[[], Observer | None],
                 succeeded: Callable[[str, object], None],
                 failed: Callable[[str, str, float], None]):
        self.store = store
        self.settings = settings  # the running [keepalived] (it changes on reload)
        self.observer = observer  # the running observer, or None
        self.succeeded = succeeded
        self.failed = failed
        self.expectations: tuple[VrrpExpectation, ...] = ()
        self._handed: tuple[Observer | None, tuple[VrrpExpectation, ...]] = (None, ())
        self._reread = asyncio.Event()
        self._compare = asyncio.Event()
        self._compared: tuple[object, object, str | None] = (None, None, None)
        store.subscribe(self._state_changed)

    def reload(self) -> None:
        """SIGHUP: read the file again now, changed or not."""
        self._reread.set()

    # -- the configuration -----------------------------------------------------------------

    async def follow(self) -> None:
        watch: ConfigWatch | None = None
        try:
            while True:
                settings = self.settings()
                if settings.config is None:  # [keepalived] gone in a reload being applied
                    return
                forced = self._reread.is_set()
                self._reread.clear()
                if watch is None or (watch.path, watch.config_id) != (settings.config,
                                                                      settings.id):
                    watch = ConfigWatch(settings.config, settings.id)
                conf, error, addresses = await asyncio.to_thread(_poll, watch, forced)
                if error is not None:
                    self.failed("keepalived", error, POLL_SECONDS)
                elif conf is not None:
                    self.succeeded("keepalived", conf)
                    log.info("read %s: %d VRRP instances, %d virtual servers, %d files",
                             conf.source, len(conf.vrrp_instances), len(conf.virtual_servers),
                             len(conf.files))
                current = self.store.current.keepalived.snapshot  # the last good one
                if current is not None:
                    self.expectations = expectations(current, addresses)
                self.hand_expectations()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._reread.wait(), POLL_SECONDS)
        finally:
            self.expectations = ()
            self.hand_expectations()

    def hand_expectations(self) -> None:
        """Give the running observer the expectations, when it or they changed."""
        observer = self.observer()
        if observer is None or self._handed == (observer, self.expectations):
            return
        observer.update_expectations(self.expectations)
        self._handed = (observer, self.expectations)

    # -- the comparison with IPVS ----------------------------------------------------------

    async def compare(self) -> None:
        while True:
            await self._compare.wait()
            self._compare.clear()
            state = self.store.current
            conf, table = state.keepalived.snapshot, state.ipvs.snapshot
            self._compared = (conf, table, state.ipvs.error)
            if conf is None:
                self.failed("keepalived_diff", "no keepalived configuration read yet"
                            + _because(state.keepalived.error), POLL_SECONDS)
            elif table is None or state.ipvs.error is not None:
                self.failed("keepalived_diff", "no IPVS table" + _because(state.ipvs.error),
                            POLL_SECONDS)
            else:
                self.succeeded("keepalived_diff", await asyncio.to_thread(compare, conf, table))

    def _state_changed(self, state: DaemonState) -> None:
        """On every publish (on the loop): wake compare() when an input is new. By identity:
        a snapshot is replaced whole, and comparing two IPVS tables field by field is slow."""
        conf, table, ipvs_error = self._compared
        if (state.keepalived.snapshot is not conf or state.ipvs.snapshot is not table
                or state.ipvs.error != ipvs_error):
            self._compare.set()


def _poll(watch: ConfigWatch, forced: bool
          ) -> tuple[KeepalivedConf | None, str | None, dict[str, tuple[str, ...]]]:
    """In a worker thread: a new read when asked or changed (or why it failed), and this
    node's addresses."""
    conf = error = None
    if forced or watch.changed():
        try:
            conf = watch.read()
        except LvsmonError as exc:
            error = str(exc)
    try:
        addresses = local_addresses()
    except Exception as exc:  # netlink refused: this node's router is then not known
        log.debug("cannot read this node's addresses: %r", exc)
        addresses = {}
    return conf, error, addresses


def _because(error: str | None) -> str:
    return f": {error}" if error else ""
