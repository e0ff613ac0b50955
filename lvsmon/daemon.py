"""`lvsmon run`: the long-running parts in one asyncio loop.

    VRRP observer      raw sockets read from loop callbacks (lvsmon.vrrp.observer)
    VRRP participant   only when [[vrrp.instance]] is configured (lvsmon.vrrp.participant)
    IPVS reader        a netlink read every [ipvs] interval, in a worker thread
    status socket      answers from the last published DaemonState (lvsmon.status_socket)

Nothing here blocks the loop: the IPVS read is the only blocking call and runs
in asyncio.to_thread. A source that fails (no IPVS in this kernel, no
permission, an interface gone) is published with its reason and retried; the
daemon keeps answering. SIGTERM / SIGINT stop cleanly: participant masters
send priority 0 and remove their VIPs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal

from lvsmon import ipvs as ipvs_module
from lvsmon.config import Config
from lvsmon.errors import LvsmonError
from lvsmon.model.daemon import SourceState
from lvsmon.state import StateStore
from lvsmon.status_socket import StatusServer
from lvsmon.vrrp.observer import Observer
from lvsmon.vrrp.participant import Participant
from lvsmon.vrrp.segment import Settings

PUBLISH_SECONDS = 0.5  # observer and participant snapshots are taken this often
RETRY_SECONDS = 10.0  # observer and participant start-up; IPVS retries at its interval
_LABELS = {"vrrp": "observer", "participant": "participant", "ipvs": "IPVS"}

log = logging.getLogger("lvsmon.daemon")


class Daemon:
    def __init__(self, config: Config, store: StateStore | None = None):
        self.config = config
        self.store = store or StateStore()
        self.participant: Participant | None = None
        self.netlink: ipvs_module.IpvsNetlink | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        self.store.publish(
            daemon=dataclasses.replace(self.store.current.daemon, config_path=self.config.path),
            vrrp=SourceState(enabled=self.config.observer.enabled),
            participant=SourceState(enabled=bool(self.config.vrrp_instances)),
            ipvs=SourceState(enabled=self.config.ipvs.enabled),
        )
        server = StatusServer(self.config.daemon.status_socket, lambda: self.store.current)
        await server.start()
        log.info("status socket %s", self.config.daemon.status_socket)
        try:
            if self.config.vrrp_instances:
                self._tasks.append(
                    loop.create_task(self._supervise("participant", self._participate))
                )
            if self.config.observer.enabled:
                self._tasks.append(loop.create_task(self._supervise("vrrp", self._observe)))
            if self.config.ipvs.enabled:
                self._tasks.append(loop.create_task(self._supervise("ipvs", self._read_ipvs)))
            log.info("running (pid %d)", self.store.current.daemon.pid)
            await self._stop.wait()
            log.info("stopping")
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.participant is not None:
                log.info("participant: releasing mastership, removing addresses")
                await self.participant.stop()
                self._publish_participant_once()
            if self.netlink is not None:
                self.netlink.close()
            await server.close()
            log.info("stopped")

    async def _supervise(self, name: str, body) -> None:
        """Run a source's loop; a bug in it is logged, reported and restarted, never fatal."""
        while True:
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("%s failed", _LABELS[name])
                self._failed(name, f"internal error: {exc!r}", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    # -- participant ---------------------------------------------------------

    async def _participate(self) -> None:
        while True:
            participant = Participant(self.config.vrrp_instances)
            try:
                await participant.__aenter__()
            except Exception as exc:  # noqa: BLE001 - reported with its reason, retried
                if not isinstance(exc, LvsmonError | OSError):
                    log.exception("participant: start failed")
                self._failed("participant", str(exc), RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.participant = participant
            names = ", ".join(i.name for i in self.config.vrrp_instances)
            log.info("participant: running %s", names)
            try:
                while True:
                    self._publish_participant_once()
                    await asyncio.sleep(PUBLISH_SECONDS)
            except Exception:
                # Before the supervisor restarts us: no second router for the same VRIDs.
                self.participant = None
                await participant.stop()
                raise

    def _publish_participant_once(self) -> None:
        source = self.store.current.participant
        now = self.store.clock()
        self.store.publish(participant=source.succeeded(self.participant.snapshot(), now))

    # -- observer ------------------------------------------------------------

    async def _observe(self) -> None:
        settings = self.config.observer
        while True:
            observer = Observer(
                list(settings.interfaces) or None,
                Settings(
                    flap_threshold=settings.flap_threshold,
                    flap_window_seconds=settings.flap_window,
                ),
            )
            try:
                observer.start()
            except LvsmonError as exc:
                self._failed("vrrp", str(exc), RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            log.info("observer: listening on %s", ", ".join(observer.interfaces))
            for warning in observer.warnings:
                log.warning("observer: %s", warning)
            try:
                while True:
                    snapshot = observer.snapshot()
                    source = self.store.current.vrrp
                    self.store.publish(vrrp=source.succeeded(snapshot, self.store.clock()))
                    await asyncio.sleep(PUBLISH_SECONDS)
            finally:
                observer.close()

    def _failed(self, name: str, reason: str, retry_seconds: float) -> None:
        """Publish why source `name` (a DaemonState field) has nothing; log a new reason once."""
        source = getattr(self.store.current, name)
        if source.error != reason:
            log.warning("%s unavailable: %s (retrying every %g s)", _LABELS[name], reason,
                        retry_seconds)  # fmt: skip
        self.store.publish(**{name: source.failed(reason, self.store.clock())})

    # -- IPVS ----------------------------------------------------------------

    async def _read_ipvs(self) -> None:
        settings = self.config.ipvs
        while True:
            try:
                table = await asyncio.to_thread(self._read_ipvs_blocking, settings.source)
            except LvsmonError as exc:
                self._failed("ipvs", str(exc), settings.interval)
            except Exception as exc:  # a parser bug must not end the daemon
                log.exception("IPVS read failed")
                self._failed("ipvs", f"read failed: {exc!r}", settings.interval)
            else:
                source = self.store.current.ipvs
                if source.error is not None:
                    log.info("IPVS: available again (%d services)", len(table.services))
                self.store.publish(ipvs=source.succeeded(table, self.store.clock()))
            await asyncio.sleep(settings.interval)

    def _read_ipvs_blocking(self, source: str):
        """Runs in a worker thread. Keeps one netlink socket; drops it after a failure."""
        if source == "procfs":
            return ipvs_module.read_table("procfs")
        try:
            if self.netlink is None:
                self.netlink = ipvs_module.IpvsNetlink()
            return ipvs_module.read_table(source, netlink=self.netlink)
        except Exception:
            if self.netlink is not None:
                with contextlib.suppress(Exception):
                    self.netlink.close()
                self.netlink = None
            raise


def run(config: Config) -> None:
    """Run until SIGTERM / SIGINT; errors at start-up propagate as LvsmonError."""
    asyncio.run(Daemon(config).run())
