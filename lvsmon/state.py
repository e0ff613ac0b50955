"""The daemon's published state: one immutable DaemonState, replaced whole on every update.

Sources publish (``store.publish(vrrp=...)`` builds a new DaemonState); readers (the
status socket, the exporter, the AgentX subagent) take ``store.current`` and only read
it. A reader never waits on a source and never sees half an update: the swap of one
reference is the only shared write. Readers that want to know of every change (to
rebuild an index once per snapshot) register with ``subscribe``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable

from lvsmon import __version__
from lvsmon.model.daemon import DaemonInfo, DaemonState, FrontendState
from lvsmon.model.frozen import FrozenDict

log = logging.getLogger(__name__)


class StateStore:
    """Holds the current DaemonState; publish() replaces it whole."""

    def __init__(self, state: DaemonState | None = None, clock=time.time):
        self.clock = clock
        if state is None:
            now = clock()
            state = DaemonState(DaemonInfo(__version__, os.getpid(), now, now))
        self.current = state
        self._subscribers: list[Callable[[DaemonState], None]] = []

    def publish(self, **changes) -> DaemonState:
        daemon = changes.pop("daemon", self.current.daemon)
        daemon = dataclasses.replace(daemon, updated_at=self.clock())
        self.current = dataclasses.replace(self.current, daemon=daemon, **changes)
        for subscriber in self._subscribers:
            try:
                subscriber(self.current)
            except Exception:  # a frontend's bug must not stop the sources
                log.exception("state subscriber %r failed", subscriber)
        return self.current

    def publish_frontend(self, name: str, state: FrontendState) -> DaemonState:
        """A frontend reports itself (what it serves, what fails); the rest is kept."""
        if self.current.frontends.get(name) == state:
            return self.current
        return self.publish(frontends=FrozenDict({**self.current.frontends, name: state}))

    def subscribe(self, callback: Callable[[DaemonState], None]) -> None:
        """Call `callback(state)` after every publish, on the loop; it must not block."""
        self._subscribers.append(callback)
