"""The VRRP participant: RFC 5798 routers (lvsmon.vrrp.state_machine) wired to the network.

    async with Participant(config.vrrp_instances) as participant:
        await stop_requested.wait()
        snapshot = participant.snapshot()   # frozen: states, priorities, events, tracks
    # leaving: priority 0 adverts sent by masters, virtual addresses removed

Per instance: one raw socket sends and receives adverts (lvsmon.vrrp.send), a timer
task drives the state machine, track commands (lvsmon.vrrp.track) adjust the priority
or force FAULT, and an address worker adds / removes the VIPs and announces them, in
the order the machine asked. Runs on the caller's asyncio loop and never blocks it:
netlink calls go to a thread, child processes are awaited.

Accepted adverts (RFC 5798 section 7.1, RFC 3768 7.1): our VRID and version, TTL 255, a
valid checksum, not our own, from a configured peer when unicast; VRRPv2 also the same
authentication and advert interval. Everything else is counted in ``dropped`` by reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections import Counter

from lvsmon.config import InstanceConfig
from lvsmon.errors import LvsmonError, VrrpError
from lvsmon.model import Advert
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.vrrp import InstanceSnapshot, ParticipantSnapshot, StateEvent, TrackStatus
from lvsmon.vrrp import codec, send, sockets
from lvsmon.vrrp import state_machine as sm
from lvsmon.vrrp.track import Tracker, notify

log = logging.getLogger(__name__)

MAX_READS_PER_WAKEUP = 64
REANNOUNCE_SECONDS = 1.0  # a second GARP / NA round: neighbours ignore a first one inside locktime
EVENTS_KEPT = 100
# Refusals RFC 6527 reports as the last protocol error (vrrpv3StatisticsProtoErrReason).
PROTOCOL_ERRORS = ("bad_ttl", "version_mismatch", "bad_checksum")
STOP_SECONDS = 5.0


class Instance:
    """One configured virtual router on one interface."""

    def __init__(self, config: InstanceConfig, clock=time.monotonic, wall=time.time):
        self.config = config
        self.clock = clock
        self.wall = wall
        self.machine: sm.StateMachine | None = None
        self.source: str | None = None
        self.sock: send.AdvertSocket | None = None
        self.events: list[StateEvent] = []
        self.since: float | None = None
        self.dropped: Counter[str] = Counter()
        self.transitions = 0
        self.adverts_sent = 0
        self.adverts_received = 0
        self.master_transitions = 0
        self.new_master_reason: str | None = None
        self.priority_zero_sent = 0
        self.priority_zero_received = 0
        self.last_protocol_error: str | None = None
        self.trackers = [Tracker(track, self._track_changed) for track in config.tracks]
        self._wake = asyncio.Event()
        self._address_jobs: asyncio.Queue = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._side_tasks: set[asyncio.Task] = set()
        self._reannounce: asyncio.TimerHandle | None = None
        # Peers in the decoder's spelling (no %scope: the socket is bound to the interface).
        self._peers = tuple(
            str(ipaddress.ip_address(peer.partition("%")[0])) for peer in config.unicast_peers
        )
        self._destinations = self._peers or (
            (codec.VRRP_GROUP4,) if config.family == "inet" else (codec.VRRP_GROUP6,)
        )
        self._vip_hosts = tuple(vip.split("/")[0] for vip in config.vips)
        self._adverts: dict[tuple[str, int], bytes] = {}
        self._stopping = False
        self.vip_interface = send.vmac_name(config.vrid) if config.vmac else config.interface
        self.send_sock: send.AdvertSocket | None = None
        self._vmac_saved: dict[tuple[str, str], str] | None = None

    # -- life cycle --

    async def start(self) -> None:
        config = self.config
        self.source = config.unicast_source or await asyncio.to_thread(
            send.primary_address, config.interface, config.family, config.vips
        )
        self.sock = send.AdvertSocket(config.interface, config.family, self.source)
        if config.vmac:
            self._vmac_saved = await asyncio.to_thread(
                send.create_vmac, config.interface, config.vrid
            )
            # Adverts leave through the macvlan (source MAC = virtual MAC); it hears nothing.
            self.send_sock = send.AdvertSocket(self.vip_interface, config.family, self.source)
            self.send_sock.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
        else:
            self.send_sock = self.sock
        self.machine = sm.StateMachine(sm.Params(
            vrid=config.vrid,
            priority=config.priority,
            advert_interval=config.advert_interval,
            address=self.source,
            preempt=config.preempt,
            preempt_delay=config.preempt_delay,
            learn_master_interval=config.version == 3,
        ))  # fmt: skip
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self._readable)
        self._tasks = [
            asyncio.create_task(self._timers(), name=f"vrrp-{config.name}-timers"),
            asyncio.create_task(self._address_worker(), name=f"vrrp-{config.name}-addresses"),
            *[asyncio.create_task(t.run(), name=f"track-{t.config.name}") for t in self.trackers],
        ]
        log.info(
            "instance %s: VRID %d on %s (%s, VRRPv%d) from %s, priority %d",
            config.name,
            config.vrid,
            config.interface,
            config.family,
            config.version,
            self.source,
            config.priority,
        )
        self._apply(self.machine.start(self.clock()))

    async def stop(self) -> None:
        """Shutdown: priority 0 advert if master, addresses removed, children gone.
        Also undoes a start that failed half-way (sockets, the vmac interface)."""
        if self._stopping:
            return
        self._stopping = True
        if self.machine is not None:
            await self._stop_running()
        if self._reannounce:
            self._reannounce.cancel()
        if self.sock:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
        if self.config.vmac:
            if self.send_sock is not None:
                self.send_sock.close()
            if self._vmac_saved is not None:
                await asyncio.to_thread(send.delete_vmac, self.config.vrid, self._vmac_saved)

    async def _stop_running(self) -> None:
        trackers = self._tasks[2:]
        for task in trackers:
            task.cancel()  # a running check is killed with its process group
        self._apply(self.machine.stop(self.clock()))
        self._address_jobs.put_nowait(None)  # the worker ends after the removal
        # The timer and address tasks end by themselves (no cancel: the last jobs must run).
        _done, pending = (
            await asyncio.wait(self._tasks, timeout=STOP_SECONDS) if self._tasks else ((), ())
        )
        for task in pending:
            log.warning("instance %s: %s did not stop in time", self.config.name, task.get_name())
            task.cancel()
        if self._side_tasks:
            await asyncio.wait(self._side_tasks, timeout=STOP_SECONDS)

    def snapshot(self) -> InstanceSnapshot:
        machine = self.machine
        return InstanceSnapshot(
            name=self.config.name,
            interface=self.config.interface,
            family=self.config.family,
            vrid=self.config.vrid,
            version=self.config.version,
            state=machine.state if machine else sm.INITIALIZE,
            priority=machine.priority if machine else self.config.priority,
            base_priority=self.config.priority,
            source=self.source,
            master=machine.master if machine else None,
            since=self.since,
            events=tuple(self.events),
            tracks=tuple(TrackStatus(t.config.name, t.ok, t.detail) for t in self.trackers),
            dropped=FrozenDict(self.dropped),
            vips=self.config.vips,
            advert_interval_centiseconds=round(self.config.advert_interval * 100),
            preempt=self.config.preempt,
            transitions=self.transitions,
            adverts_sent=self.adverts_sent,
            adverts_received=self.adverts_received,
            preempt_delay_seconds=self.config.preempt_delay,
            auth_type="simple" if self.config.auth_pass else "none",
            unicast_peers=self.config.unicast_peers,
            vmac_interface=self.vip_interface if self.config.vmac else None,
            notify=self.config.notify,
            master_transitions=self.master_transitions,
            new_master_reason=self.new_master_reason,
            priority_zero_sent=self.priority_zero_sent,
            priority_zero_received=self.priority_zero_received,
            last_protocol_error=self.last_protocol_error,
        )

    # -- the machine's actions --

    def _apply(self, actions: list[sm.Action]) -> None:
        for action in actions:
            if isinstance(action, sm.SendAdvert):
                self._send(action.priority)
            elif isinstance(action, sm.AddAddresses | sm.RemoveAddresses):
                self._address_jobs.put_nowait(action)
            elif isinstance(action, sm.StateChange):
                self._state_changed(action)
        self._wake.set()  # timers may have moved

    def _send(self, priority: int) -> None:
        for destination in self._destinations:
            key = (destination, priority)
            message = self._adverts.get(key)
            if message is None:
                message = self._adverts[key] = codec.encode_advert(
                    vrid=self.config.vrid,
                    priority=priority,
                    addresses=self._vip_hosts,
                    source=self.source,
                    destination=destination,
                    version=self.config.version,
                    advert_interval_centiseconds=round(self.config.advert_interval * 100),
                    auth_type="simple" if self.config.auth_pass else "none",
                    auth_data=self.config.auth_pass or b"",
                )
            try:
                self.send_sock.send(message, destination)
                self.adverts_sent += 1
                if priority == 0:
                    self.priority_zero_sent += 1
            except VrrpError as err:
                log.warning("instance %s: %s", self.config.name, err)

    def _state_changed(self, change: sm.StateChange) -> None:
        now = self.wall()
        self.since = now
        self.transitions += 1
        if change.new == sm.MASTER:
            self.master_transitions += 1
            self.new_master_reason = change.master_reason
        self.events.append(StateEvent(now, change.old, change.new, change.reason, change.priority,
                                      change.master_reason))
        del self.events[:-EVENTS_KEPT]
        log.info(
            "instance %s: %s -> %s (%s), priority %d",
            self.config.name,
            change.old,
            change.new,
            change.reason,
            change.priority,
        )
        if self.config.notify:
            task = asyncio.create_task(
                notify(self.config.notify, self.config.name, change.new, str(change.priority))
            )
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)

    async def _address_worker(self) -> None:
        config = self.config
        while True:
            job = await self._address_jobs.get()
            if job is None:
                self._address_jobs.task_done()
                return
            try:
                if isinstance(job, sm.AddAddresses):
                    await asyncio.to_thread(send.add_addresses, self.vip_interface, config.vips)
                    await self._announce()
                    self._reannounce = asyncio.get_running_loop().call_later(
                        REANNOUNCE_SECONDS, self._announce_again
                    )
                elif isinstance(job, sm.RemoveAddresses):
                    if self._reannounce:
                        self._reannounce.cancel()
                    await asyncio.to_thread(send.remove_addresses, self.vip_interface, config.vips)
                elif job == "announce" and self.machine.state == sm.MASTER:
                    await self._announce()
            except Exception as err:  # noqa: BLE001 - keep serving; the log says what failed
                log.error("instance %s: %s", config.name, err)
            finally:
                self._address_jobs.task_done()

    async def _announce(self) -> None:
        await asyncio.to_thread(send.announce, self.vip_interface, self.config.vips)

    def _announce_again(self) -> None:
        self._address_jobs.put_nowait("announce")

    async def _timers(self) -> None:
        while not self._stopping:
            deadline = self.machine.deadline
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            self._wake.clear()
            # asyncio.timeout, not wait_for: no task made per advert (200 instances send 200/s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if not self._stopping:
                self._apply(self.machine.tick(self.clock()))

    # -- tracks --

    def _track_changed(self, tracker: Tracker) -> None:
        name = self.config.name
        log.info(
            "instance %s: track %s %s (%s)",
            name,
            tracker.config.name,
            "ok" if tracker.ok else "FAILED",
            tracker.detail,
        )
        now = self.clock()
        faulty = any(t.ok is False and t.config.fault for t in self.trackers)
        if faulty and self.machine.state != sm.FAULT:
            self._apply(self.machine.stop(now, fault=True))
            return
        if not faulty and self.machine.state == sm.FAULT:
            self._apply(self.machine.start(now))
        weight = sum(
            t.config.weight
            for t in self.trackers
            if (t.ok is False and t.config.weight < 0) or (t.ok and t.config.weight > 0)
        )
        self._apply(self.machine.set_priority(now, self.config.priority + weight))

    # -- receiving --

    def _readable(self) -> None:
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                if self.config.family == "inet":
                    advert = codec.decode_ipv4_packet(self.sock.sock.recv(sockets.RECV_BUFFER))
                else:
                    data, ancdata, _flags, address = self.sock.sock.recvmsg(
                        sockets.RECV_BUFFER, sockets.ANCILLARY_BUFFER
                    )
                    advert = codec.decode_ipv6_recvmsg(data, ancdata, address)
            except BlockingIOError:
                return
            except OSError as err:
                log.warning("instance %s: receiving failed: %s", self.config.name, err.strerror)
                return
            except codec.VrrpDecodeError as err:
                self.dropped[err.reason] += 1
                continue
            reason = self._refusal(advert)
            if reason:
                if reason != "own":
                    self.dropped[reason] += 1
                if reason in PROTOCOL_ERRORS:
                    self.last_protocol_error = reason
                continue
            self.adverts_received += 1
            if advert.priority == 0:
                self.priority_zero_received += 1
            heard = sm.Heard(advert.source, advert.priority, advert.advert_interval_seconds)
            self._apply(self.machine.advert(self.clock(), heard))

    def _refusal(self, advert: Advert) -> str | None:
        """Why an advert is not for us (RFC 5798 7.1 / RFC 3768 7.1), or None."""
        config = self.config
        if advert.vrid != config.vrid:
            return "other_vrid"
        if advert.source == self.source:
            return "own"
        if advert.version != config.version:
            return "version_mismatch"
        if not advert.ttl_ok:
            return "bad_ttl"
        if not advert.checksum_ok:
            return "bad_checksum"
        if self._peers and advert.source not in self._peers:
            return "not_a_peer"
        if config.version == 2:
            wanted = "simple" if config.auth_pass else "none"
            if advert.auth_type != wanted or (
                config.auth_pass and advert.password != config.auth_pass
            ):
                return "auth_mismatch"
            if advert.advert_interval_seconds != config.advert_interval:
                return "interval_mismatch"
        return None


class Participant:
    """The configured instances on one asyncio loop, each started and stopped on its own.

    ``apply(configs)`` is also how a reload changes them: an instance whose settings did not
    change keeps running (its state, its mastership, its VIPs); a changed or removed one is
    stopped cleanly (priority 0 if master, VIPs removed) before its successor starts. An
    instance that cannot start (its interface is missing) is kept in ``errors`` and
    retried by ``start_missing``; the others run meanwhile.
    """

    def __init__(self, configs=(), clock=time.monotonic, wall=time.time):
        self.clock, self.wall = clock, wall
        self.wanted: tuple[InstanceConfig, ...] = tuple(configs)
        self.running: dict[str, Instance] = {}
        self.errors: dict[str, str] = {}  # instance name -> why it does not run
        self._stopped: dict[str, Instance] = {}  # by stop(): shown in snapshots until restarted

    async def __aenter__(self) -> Participant:
        """Start every instance, or none: the first failure stops the others and raises."""
        for config in self.wanted:
            instance = Instance(config, self.clock, self.wall)
            try:
                await instance.start()
            except BaseException:
                await instance.stop()
                await self.stop()
                raise
            self.running[config.name] = instance
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def apply(self, configs) -> None:
        """Run exactly these instances, touching only what changed."""
        self._stopped = {}
        self.wanted = tuple(configs)
        wanted = {config.name: config for config in self.wanted}
        leaving = [
            instance
            for name, instance in self.running.items()
            if wanted.get(name) != instance.config
        ]
        for instance in leaving:
            del self.running[instance.config.name]
            log.info("instance %s: stopping (%s)", instance.config.name,
                     "changed" if instance.config.name in wanted else "removed")
        await asyncio.gather(*(instance.stop() for instance in leaving))
        self.errors = {name: error for name, error in self.errors.items() if name in wanted}
        await self.start_missing()

    async def start_missing(self) -> None:
        """Start the wanted instances that do not run; remember why one cannot."""
        for config in self.wanted:
            if config.name in self.running:
                continue
            instance = Instance(config, self.clock, self.wall)
            try:
                await instance.start()
            except Exception as exc:  # noqa: BLE001 - reported with its reason and retried
                await instance.stop()
                if not isinstance(exc, LvsmonError | OSError):
                    log.exception("instance %s: start failed", config.name)
                self.errors[config.name] = str(exc)
                continue
            self.errors.pop(config.name, None)
            self.running[config.name] = instance

    async def stop(self) -> None:
        """Stop every instance; their last snapshots stay (stopped: INITIALIZE or FAULT) until
        an apply() starts them again."""
        self._stopped.update(self.running)
        instances, self.running = list(self.running.values()), {}
        await asyncio.gather(*(instance.stop() for instance in instances))

    def snapshot(self) -> ParticipantSnapshot:
        shown = {**self._stopped, **self.running}
        return ParticipantSnapshot(
            self.wall(), tuple(shown[c.name].snapshot() for c in self.wanted if c.name in shown)
        )
