"""The Prometheus exporter as a frontend of `lvsmon run` (entry point lvsmon.frontends).

The daemon hands it the state store; it serves /metrics (exporter/http_server.py) from the
published DaemonState only. A scrape renders in a worker thread: the small families (health,
VRRP, participant, SNAT, keepalived names) every time, the IPVS table and its drift from
keepalived.conf once per read and format (SnapshotCache: the table changes only every [ipvs]
interval, while the state is republished twice a second). [exporter] settings come from the
daemon's configuration; a web-config file (TLS, basic auth) is checked before a start or a
reload takes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from lvsmon.config import Config, ExporterConfig
from lvsmon.errors import ExporterError, WebConfigError
from lvsmon.model.daemon import DaemonState, FrontendState
from lvsmon.model.frozen import FrozenDict
from lvsmon.state import StateStore
from lvsmon_exporter import snat
from lvsmon_exporter.collector import drift_families, ipvs_families, small_families
from lvsmon_exporter.exposition import (
    OPENMETRICS_EOF,
    LabelCache,
    SnapshotCache,
    render_families,
)
from lvsmon_exporter.http_server import MetricsServer
from lvsmon_exporter.web_config import PLAIN_HTTP, WebConfig, load_web_config

NAME = "exporter"
log = logging.getLogger("lvsmon.exporter")


class Exporter:
    name = NAME

    def __init__(self) -> None:
        self.store: StateStore | None = None
        self.settings: ExporterConfig | None = None
        self.server: MetricsServer | None = None
        self._labels = LabelCache()
        self._ipvs = SnapshotCache()
        self._drift = SnapshotCache()

    # -- the daemon's Frontend protocol ------------------------------------------------

    def check(self, config: Config) -> tuple[str, ...]:
        settings = config.exporter
        if not settings.enabled or settings.web_config is None:
            return ()
        try:
            load_web_config(settings.web_config)
        except WebConfigError as exc:
            return exc.problems
        return ()

    async def start(self, store: StateStore, config: Config) -> None:
        self.store = store
        await self._apply(config.exporter)

    async def reload(self, config: Config) -> None:
        await self._apply(config.exporter)

    async def stop(self) -> None:
        await self._close()
        self._report()

    # -- settings ----------------------------------------------------------------------

    async def _apply(self, settings: ExporterConfig) -> None:
        if not settings.enabled:
            await self._close()
            self.settings = settings
            self._report()
            return
        web = await asyncio.to_thread(_web_config, settings)
        if self.server is not None and self.settings.listen == settings.listen:
            self.server.reconfigure(web)  # same sockets, new TLS / users / headers
        else:
            previous = self.settings if self.server is not None else None
            await self._close()
            try:
                await self._serve(settings, web)
            except ExporterError as exc:
                if previous is None:
                    raise  # at start: the daemon refuses to run without its exporter
                log.error("exporter: %s; serving %s again", exc, ", ".join(previous.listen))
                await self._serve(previous, await asyncio.to_thread(_web_config, previous))
                self._report(error=str(exc))
                return
        self.settings = settings
        self._report()

    async def _serve(self, settings: ExporterConfig, web: WebConfig) -> None:
        server = MetricsServer(settings.listen, self.render, web)
        await server.start()
        self.server = server
        self.settings = settings

    async def _close(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            await server.close()

    def _report(self, error: str | None = None) -> None:
        server = self.server
        state = FrontendState(
            running=server is not None, error=error,
            endpoints=self.settings.listen if server is not None else (),
            counters=FrozenDict(server.counters) if server is not None else FrozenDict(),
        )  # fmt: skip
        if self.store is not None:
            self.store.publish_frontend(NAME, state)

    # -- rendering (in a worker thread) ------------------------------------------------

    def render(self, openmetrics: bool) -> bytes:
        state = self.store.current
        pieces = [render_families(self._families(state), openmetrics, self._labels)]
        table = state.ipvs.snapshot
        if table is not None:
            pieces.append(self._ipvs.render(table, ipvs_families, openmetrics, self._labels))
        diff = state.keepalived_diff.snapshot
        if diff is not None:
            pieces.append(self._drift.render(diff, drift_families, openmetrics, self._labels))
        if openmetrics:
            pieces.append(OPENMETRICS_EOF)
        return b"".join(pieces)

    def _families(self, state: DaemonState) -> Iterator[Metric]:
        yield from small_families(state, time.time())
        if state.snat.snapshot is not None:
            yield from snat.render(state.snat.snapshot)
        server = self.server
        if server is not None:
            events = CounterMetricFamily(
                "lvsmon_exporter_http_events", "What the exporter's HTTP server has seen since "
                "the daemon started (scrapes, bad requests, TLS handshake failures ...).",
                labels=["event"])  # fmt: skip
            for event, count in sorted(server.counters.items()):
                events.add_metric([event], count)
            yield events


def _web_config(settings: ExporterConfig) -> WebConfig:
    return load_web_config(settings.web_config) if settings.web_config else PLAIN_HTTP
