"""`lvsmon run`: the long-running parts in one asyncio loop.

    VRRP observer      raw sockets read from loop callbacks (lvsmon.vrrp.observer)
    VRRP participant   only when [[vrrp.instance]] is configured (lvsmon.vrrp.participant)
    IPVS reader        a table read every [ipvs] interval, in a worker thread
    SNAT status        the recorder's status file (when [snat] is configured), in a thread
    keepalived         keepalived.conf ([keepalived] config) and its comparison with the IPVS
                       table; the observer gets its expectations (lvsmon.daemon_keepalived)
    drain guard        holds `lvsmon drain`'s drains at weight 0 while keepalived restores
                       weights (when [keepalived] config is set), in a thread of its own
                       (lvsmon.drain_guard)
    status socket      answers from the last published DaemonState (lvsmon.status_socket)
    frontends          handed in by the CLI (the exporter, the AgentX subagent); they read
                       the published state and never reach into a source

Nothing here blocks the loop: reads of the kernel and of files run in asyncio.to_thread.
A source that fails (no IPVS in this kernel, no permission, an interface gone) is
published with its reason and retried; the daemon keeps answering. SIGTERM / SIGINT stop
cleanly: participant masters send priority 0 and remove their VIPs. SIGHUP reloads the
configuration: an invalid file is refused and the running one kept; otherwise only the
parts whose settings changed restart (an unchanged participant instance keeps its state
and keeps advertising; the observer keeps its history while its interfaces stay).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import signal
import sys
from typing import Protocol

from lvsmon import config as config_module
from lvsmon import drain_guard, logs, pool
from lvsmon import ipvs as ipvs_module
from lvsmon.config import Config
from lvsmon.daemon_keepalived import KeepalivedSources
from lvsmon.errors import LvsmonError
from lvsmon.events import StateChangeLogger
from lvsmon.model.daemon import SourceState
from lvsmon.state import StateStore
from lvsmon.status_socket import StatusServer
from lvsmon.vrrp.observer import Observer
from lvsmon.vrrp.participant import Participant
from lvsmon.vrrp.segment import Settings

# Snapshots of hundreds of instances allocate far more than CPython's default 700 objects
# between young collections, and nearly all of it dies by reference count: collecting a
# hundred times less often cut the daemon's CPU with 200 VRRP instances from about 25% to
# 20% of a core, and sped up AgentX walks by a tenth (benchmarks/agentx_compare.py).
# Older generations follow every 20 and every 200 young collections.
GC_THRESHOLDS = (100_000, 20, 10)
PUBLISH_SECONDS = 0.5  # observer and participant snapshots are taken this often
RETRY_SECONDS = 10.0  # observer and participant start-up; IPVS retries at its interval
SNAT_SECONDS = 5.0  # the recorder rewrites its status file every second
_LABELS = {"vrrp": "observer", "participant": "participant", "ipvs": "IPVS",
           "snat": "SNAT recorder status", "keepalived": "keepalived configuration",
           "keepalived_diff": "keepalived drift", "drains": "drain guard"}  # fmt: skip

log = logging.getLogger("lvsmon.daemon")


class Frontend(Protocol):
    """What the CLI hands the daemon besides its sources (lvsmon.cli.plugins finds them).

    A frontend renders the published state (``store.current``, ``store.subscribe``) and
    reports itself with ``store.publish_frontend``; it never reaches into a source and
    never blocks the loop. It is off unless its section of the configuration enables it.
    """

    name: str

    def check(self, config: Config) -> tuple[str, ...]:
        """Problems of `config` for this frontend (e.g. a web-config file's contents)."""
        ...

    async def start(self, store: StateStore, config: Config) -> None: ...

    async def reload(self, config: Config) -> None:
        """Apply a configuration that check() accepted; restart only what changed."""
        ...

    async def stop(self) -> None: ...


class Daemon:
    def __init__(self, config: Config, store: StateStore | None = None,
                 frontends: tuple[Frontend, ...] = ()):  # fmt: skip
        self.config = config
        self.store = store or StateStore()
        self.frontends = tuple(frontends)
        self.participant = Participant()
        self.observer: Observer | None = None
        self.netlink: ipvs_module.IpvsNetlink | None = None
        self.server: StatusServer | None = None
        self._stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._reloading = asyncio.Lock()
        self._reloads: set[asyncio.Task] = set()
        self.store.subscribe(StateChangeLogger().changed)
        self.keepalived = KeepalivedSources(self.store, lambda: self.config.keepalived,
                                            lambda: self.observer, self._succeeded, self._failed)

    def stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        daemon = dataclasses.replace(self.store.current.daemon, config_path=self.config.path)
        self.store.publish(daemon=daemon, **{
            name: SourceState(enabled=wanted) for name, wanted in self._wanted().items()
        })  # fmt: skip
        self.server = await self._serve(self.config.daemon.status_socket)
        started: list[Frontend] = []
        try:
            for frontend in self.frontends:
                await frontend.start(self.store, self.config)
                started.append(frontend)
            for name, wanted in self._wanted().items():
                if wanted:
                    self._start_source(name)
            # What exists now lives as long as the daemon: keep it out of the full garbage
            # collections, which hold the GIL while they walk (benchmarks/exporter_loop.py).
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            log.info("running (pid %d)", self.store.current.daemon.pid)
            await self._stop.wait()
            log.info("stopping")
        finally:
            for task in list(self._reloads):
                task.cancel()
            await asyncio.gather(*self._reloads, return_exceptions=True)
            for name in list(self._tasks):
                await self._stop_source(name)
            for frontend in reversed(started):
                with contextlib.suppress(Exception):
                    await frontend.stop()
            if self.netlink is not None:
                self.netlink.close()
            await self.server.close()
            log.info("stopped")

    async def _serve(self, path: str) -> StatusServer:
        server = StatusServer(path, lambda: self.store.current)
        await server.start()
        log.info("status socket %s", path)
        return server

    # -- which sources run ---------------------------------------------------------------

    def _wanted(self, config: Config | None = None) -> dict[str, bool]:
        config = config or self.config
        return {
            "vrrp": config.observer.enabled,
            "participant": bool(config.vrrp_instances),
            "ipvs": config.ipvs.enabled,
            "snat": _snat_status_file(config) is not None,
            "keepalived": config.keepalived.config is not None,
            "keepalived_diff": config.keepalived.config is not None and config.ipvs.enabled,
            "drains": config.keepalived.config is not None,  # keepalived restores weights
        }

    def _start_source(self, name: str) -> None:
        bodies = {"vrrp": self._observe, "participant": self._participate,
                  "ipvs": self._read_ipvs, "snat": self._read_snat,
                  "keepalived": self.keepalived.follow,
                  "keepalived_diff": self.keepalived.compare,
                  "drains": self._hold_drains}  # fmt: skip
        self._wake[name] = asyncio.Event()
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._supervise(name, bodies[name]), name=f"source-{name}")

    async def _stop_source(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if name == "participant":
            if self.participant.running:
                log.info("participant: releasing mastership, removing addresses")
            await self.participant.stop()
            self._publish_participant()

    async def _sleep(self, name: str, seconds: float) -> None:
        """Sleep, or less when a reload wakes the source."""
        wake = self._wake[name]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()

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

    def _failed(self, name: str, reason: str, retry_seconds: float) -> None:
        """Publish why source `name` (a DaemonState field) has nothing; the state-change
        logger (lvsmon.events) says so once, and when it is back."""
        source = getattr(self.store.current, name)
        self.store.publish(**{name: source.failed(reason, self.store.clock())})

    def _succeeded(self, name: str, snapshot) -> None:
        source = getattr(self.store.current, name)
        self.store.publish(**{name: source.succeeded(snapshot, self.store.clock())})

    # -- reload (SIGHUP) ------------------------------------------------------------------

    async def reload(self) -> bool:
        """Read the configuration again and apply what changed; False when it was refused."""
        async with self._reloading:
            path = self.config.path
            log.info("reload: reading %s", path)
            try:
                new = await asyncio.to_thread(config_module.load, path)
            except LvsmonError as exc:
                for problem in getattr(exc, "problems", None) or (str(exc),):
                    log.error("reload refused, the running configuration is kept: %s", problem)
                return False
            problems = [problem for frontend in self.frontends
                        for problem in frontend.check(new)]  # fmt: skip
            if problems:
                log.error("reload refused, the running configuration is kept: %s",
                          "; ".join(problems))
                return False
            old, self.config = self.config, new
            logs.configure(new.log)
            await self._apply(old, new)
            for frontend in self.frontends:
                try:
                    await frontend.reload(new)
                except Exception:  # one frontend's failure must not undo the rest
                    log.exception("reload: the %s frontend failed", frontend.name)
            log.info("reload: done")
            return True

    async def _apply(self, old: Config, new: Config) -> None:
        if new.daemon.status_socket != old.daemon.status_socket:
            log.info("reload: status socket moves to %s", new.daemon.status_socket)
            previous = self.server
            try:
                self.server = await self._serve(new.daemon.status_socket)
            except LvsmonError as exc:
                log.error("reload: %s; the status socket stays at %s", exc,
                          old.daemon.status_socket)  # fmt: skip
            else:
                await previous.close()
        wanted, had = self._wanted(new), self._wanted(old)
        for name in wanted:
            if wanted[name] == had[name]:
                continue
            if wanted[name]:
                log.info("reload: starting the %s", _LABELS[name])
                self.store.publish(**{name: SourceState(enabled=True)})
                self._start_source(name)
            else:
                log.info("reload: stopping the %s", _LABELS[name])
                await self._stop_source(name)
                self.store.publish(**{name: SourceState(enabled=False)})
        if wanted["vrrp"] and had["vrrp"] and new.observer != old.observer:
            self._reload_observer(old, new)
        if wanted["participant"] and had["participant"]:
            await self.participant.apply(new.vrrp_instances)
            self._publish_participant()
        for name in ("ipvs", "snat"):
            if name in self._wake:
                self._wake[name].set()  # the next read uses the new settings now
        if wanted["keepalived"] and had["keepalived"]:
            self.keepalived.reload()

    def _reload_observer(self, old: Config, new: Config) -> None:
        if (new.observer.interfaces, new.observer.enabled) != (
            old.observer.interfaces, old.observer.enabled
        ):
            log.info("reload: observer interfaces changed; listening afresh (history restarts)")
            self._tasks["vrrp"].cancel()
            self._start_source("vrrp")
        elif self.observer is not None:
            self.observer.update_settings(_observer_settings(new))
            log.info("reload: observer thresholds changed; history kept")

    # -- participant ---------------------------------------------------------------------

    async def _participate(self) -> None:
        await self.participant.apply(self.config.vrrp_instances)
        if self.participant.running:
            log.info("participant: running %s", ", ".join(self.participant.running))
        retry_at = asyncio.get_running_loop().time() + RETRY_SECONDS
        while True:
            self._publish_participant()
            await asyncio.sleep(PUBLISH_SECONDS)
            now = asyncio.get_running_loop().time()
            if self.participant.errors and now >= retry_at:
                await self.participant.start_missing()
                retry_at = now + RETRY_SECONDS

    def _publish_participant(self) -> None:
        source = self.store.current.participant
        errors = self.participant.errors
        if not source.enabled:
            return
        snapshot = self.participant.snapshot()
        if errors:
            reason = "; ".join(f"instance {name}: {error}" for name, error in errors.items())
            self._failed("participant", reason, RETRY_SECONDS)
            source = self.store.current.participant
            self.store.publish(participant=dataclasses.replace(source, snapshot=snapshot))
        else:
            self._succeeded("participant", snapshot)

    # -- observer ------------------------------------------------------------------------

    async def _observe(self) -> None:
        while True:
            settings = self.config.observer
            observer = Observer(list(settings.interfaces) or None, _observer_settings(self.config))
            try:
                observer.start()
            except LvsmonError as exc:
                self._failed("vrrp", str(exc), RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.observer = observer
            self.keepalived.hand_expectations()
            log.info("observer: listening on %s", ", ".join(observer.interfaces))
            for warning in observer.warnings:
                log.warning("observer: %s", warning)
            try:
                while True:
                    self._succeeded("vrrp", observer.snapshot())
                    await asyncio.sleep(PUBLISH_SECONDS)
            finally:
                self.observer = None
                observer.close()

    # -- IPVS ----------------------------------------------------------------------------

    async def _read_ipvs(self) -> None:
        while True:
            settings = self.config.ipvs
            try:
                table = await asyncio.to_thread(self._read_ipvs_blocking, settings)
            except LvsmonError as exc:
                self._failed("ipvs", str(exc), settings.interval)
            except Exception as exc:  # a parser bug must not end the daemon
                log.exception("IPVS read failed")
                self._failed("ipvs", f"read failed: {exc!r}", settings.interval)
            else:
                self._succeeded("ipvs", table)
            await self._sleep("ipvs", settings.interval)

    def _read_ipvs_blocking(self, settings):
        """Runs in a worker thread. Keeps one netlink socket; drops it after a failure."""
        procfs_root = settings.procfs_root
        if settings.source == "procfs":
            return ipvs_module.read_table("procfs", procfs_root=procfs_root)
        try:
            if self.netlink is None:
                self.netlink = ipvs_module.IpvsNetlink()
            return ipvs_module.read_table(settings.source, procfs_root=procfs_root,
                                          netlink=self.netlink)  # fmt: skip
        except Exception:
            if self.netlink is not None:
                with contextlib.suppress(Exception):
                    self.netlink.close()
                self.netlink = None
            raise

    # -- SNAT recorder status ---------------------------------------------------------------

    async def _read_snat(self) -> None:
        from lvsmon.snat.status import read_status

        while True:
            status_file = _snat_status_file(self.config)
            if status_file is None:  # [snat] gone in a reload still being applied
                return
            reading = await asyncio.to_thread(read_status, status_file)
            if reading.recorder is None:
                self._failed("snat", reading.not_running_because, SNAT_SECONDS)
            else:
                self._succeeded("snat", reading)
            await self._sleep("snat", SNAT_SECONDS)

    # -- drain guard ------------------------------------------------------------------------

    async def _hold_drains(self) -> None:
        await drain_guard.hold_drains(
            lambda: pool.resolve_state_dir(self.config.daemon.state_dir),
            lambda snapshot: self._succeeded("drains", snapshot),
            lambda reason: self._failed("drains", reason, drain_guard.RETRY_SECONDS),
        )  # fmt: skip


def _observer_settings(config: Config) -> Settings:
    return Settings(flap_threshold=config.observer.flap_threshold,
                    flap_window_seconds=config.observer.flap_window)  # fmt: skip


def _snat_status_file(config: Config) -> str | None:
    """The SNAT recorder's status file when this configuration has a [snat] table."""
    return config.snat_status_file


def run(config: Config, frontends: tuple[Frontend, ...] = ()) -> None:
    """Run until SIGTERM / SIGINT; errors at start-up propagate as LvsmonError."""
    # Worker threads render scrapes and answers; they must hand the GIL back to the loop
    # often, for the participant's adverts are timed to the millisecond (the default
    # switch interval, 5 ms, showed as 5 ms late timers: benchmarks/exporter_loop.py).
    sys.setswitchinterval(0.001)
    asyncio.run(Daemon(config, frontends=frontends).run())
