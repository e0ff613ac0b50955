"""The VRRP observer: raw sockets per interface feeding one Segment per (interface, family, VRID).

    async with Observer(["eth0"]) as observer:
        await asyncio.sleep(3)
        snapshot = observer.snapshot()      # ObserverSnapshot of frozen SegmentViews

Runs on the caller's asyncio loop and never blocks it: sockets are non-blocking and
read from ``loop.add_reader`` callbacks; a periodic tick lets timeouts (no_master,
the end of split brain) happen without adverts. Decoding is lvsmon.vrrp.codec,
detection lvsmon.vrrp.segment; this module only moves bytes between them.

``update_expectations`` hands it what this node's keepalived.conf configures (from the
daemon: the observer reads no file); a configured VRID on an observed interface gets its
view at once, heard or not, so that a silent instance shows.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from lvsmon.errors import VrrpError
from lvsmon.model import Advert
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.vrrp import ObserverSnapshot, VrrpExpectation
from lvsmon.vrrp import codec, sockets
from lvsmon.vrrp.segment import Segment, Settings
from lvsmon.vrrp.stats import DecodeStats

TICK_SECONDS = 0.1
MAX_READS_PER_WAKEUP = 64  # leave the loop to others during a flood


class Observer:
    """Hears VRRP on the given interfaces (IPv4 and IPv6) and keeps a view per segment."""

    def __init__(
        self,
        interfaces: list[str] | None = None,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        ipv4: bool = True,
        ipv6: bool = True,
        own_adverts: bool = True,
    ):
        self.interfaces = list(interfaces) if interfaces else sockets.default_interfaces()
        self.settings = settings or Settings()
        self.clock = clock
        self.families = [name for name, wanted in (("inet", ipv4), ("inet6", ipv6)) if wanted]
        # Also watch what this host sends: the raw IP sockets never hear the local router.
        self.own_adverts = own_adverts
        self.segments: dict[tuple[str, str, int], Segment] = {}
        self.expectations: tuple[VrrpExpectation, ...] = ()
        self.stats = {ifname: DecodeStats() for ifname in self.interfaces}
        self.warnings: list[str] = []
        self._sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task | None = None

    async def __aenter__(self) -> Observer:
        self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        """Open the sockets and start reading; call from within the running loop."""
        self._loop = asyncio.get_running_loop()
        if not self.interfaces:
            raise VrrpError("no interface to observe", "name one with -i, or bring one up")
        try:
            for ifname in self.interfaces:
                self._open(ifname)
        except Exception:
            self.close()
            raise
        if not self._sockets:
            raise VrrpError("no VRRP socket could be opened", "; ".join(self.warnings))
        self._ticker = self._loop.create_task(self._tick_forever())

    def _open(self, ifname: str) -> None:
        sockets.interface_index(ifname)  # a typo in -i is an error, not a warning
        openers = {"inet": sockets.open_ipv4, "inet6": sockets.open_ipv6}
        for family in self.families:
            try:
                sock = openers[family](ifname)
            except VrrpError as err:
                # One family missing on one interface (no IPv6 there) is not fatal.
                self._warn(str(err))
                continue
            self._sockets.append(sock)
            self._loop.add_reader(sock.fileno(), self._readable, sock, ifname, family)
        if self.own_adverts:
            try:
                sock = sockets.open_outgoing(ifname)
            except VrrpError as err:
                self._warn(str(err))
                return
            self._sockets.append(sock)
            self._loop.add_reader(sock.fileno(), self._readable_outgoing, sock, ifname)

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for sock in self._sockets:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

    # -- reading --------------------------------------------------------------

    def _readable(self, sock: socket.socket, ifname: str, family: str) -> None:
        stats = self.stats[ifname]
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                if family == "inet":
                    advert = stats.decode_ipv4(sock.recv(sockets.RECV_BUFFER))
                else:
                    data, ancdata, _flags, address = sock.recvmsg(
                        sockets.RECV_BUFFER, sockets.ANCILLARY_BUFFER
                    )
                    advert = stats.decode_ipv6(data, ancdata, address)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                self._warn(f"reading VRRP on {ifname}: {err.strerror}")
                return
            if advert is not None:
                self.feed(ifname, advert, self.clock())

    def _readable_outgoing(self, sock: socket.socket, ifname: str) -> None:
        stats = self.stats[ifname]
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                data, address = sock.recvfrom(sockets.RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                self._warn(f"reading outgoing VRRP on {ifname}: {err.strerror}")
                return
            ethertype = address[1]
            if ethertype == sockets.ETH_P_IP and "inet" in self.families:
                advert = stats.decode_ipv4(data)
            elif ethertype == sockets.ETH_P_IPV6 and "inet6" in self.families:
                advert = self._decode_ipv6_packet(stats, data)
            else:
                continue
            if advert is not None:
                self.feed(ifname, advert, self.clock())

    @staticmethod
    def _decode_ipv6_packet(stats: DecodeStats, data: bytes) -> Advert | None:
        try:
            payload, source, destination, hop_limit = sockets.split_ipv6_packet(data)
            return stats.accepted(
                codec.decode_ipv6_payload(payload, source, destination, hop_limit)
            )
        except codec.VrrpDecodeError as error:
            stats.rejected(error)
            return None

    def _warn(self, message: str) -> None:
        if message not in self.warnings:  # a repeating failure is one warning
            self.warnings.append(message)

    def update_settings(self, settings: Settings) -> None:
        """New detection thresholds for every segment, keeping what was heard (a reload)."""
        self.settings = settings
        for segment in self.segments.values():
            segment.settings = settings

    def update_expectations(self, expectations: tuple[VrrpExpectation, ...]) -> None:
        """What this node's configuration says of each VRID (a start or a reload); history is
        kept. Views made only for an expectation go when it goes."""
        self.expectations = tuple(expectations)
        now = self.clock()
        for key, segment in list(self.segments.items()):
            expectation = self._expectation_for(*key)
            if expectation is None and not segment.heard:
                del self.segments[key]
                continue
            segment.expect(expectation, now)
        for expectation in self.expectations:
            if expectation.interface in self.interfaces and expectation.family in self.families:
                self._segment((expectation.interface, expectation.family, expectation.vrid), now)

    def _expectation_for(self, ifname: str, family: str, vrid: int) -> VrrpExpectation | None:
        for expectation in self.expectations:
            if ((expectation.family, expectation.vrid) == (family, vrid)
                    and expectation.interface in (ifname, None)):
                return expectation
        return None

    def _segment(self, key: tuple[str, str, int], now: float) -> Segment:
        segment = self.segments.get(key)
        if segment is None:
            segment = self.segments[key] = Segment(*key, settings=self.settings)
            segment.expect(self._expectation_for(*key), now)
        return segment

    def feed(self, ifname: str, advert: Advert, now: float) -> None:
        """Hand one decoded advert to its segment (also how tests replay captures)."""
        self._segment((ifname, advert.family, advert.vrid), now).advert(advert, now)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.tick(self.clock())

    def tick(self, now: float) -> None:
        for segment in self.segments.values():
            segment.tick(now)

    # -- output ---------------------------------------------------------------

    def snapshot(self) -> ObserverSnapshot:
        now = self.clock()
        self.tick(now)
        views = sorted(
            (segment.snapshot(now) for segment in self.segments.values()),
            key=lambda segment: (segment.interface, segment.family, segment.vrid),
        )
        return ObserverSnapshot(
            taken_at=now,
            interfaces=tuple(self.interfaces),
            segments=tuple(views),
            decode_counts=FrozenDict(
                {ifname: stats.snapshot() for ifname, stats in self.stats.items()}
            ),
            warnings=tuple(self.warnings),
        )

    @property
    def longest_interval_seconds(self) -> float:
        return max((s.longest_interval_seconds for s in self.segments.values()), default=0.0)


async def observe_for(
    interfaces: list[str] | None,
    duration: float | None,
    settings: Settings | None = None,
    minimum: float = 3.0,
) -> ObserverSnapshot:
    """Listen, then return one snapshot. Without a duration: 3 x the longest advert
    interval heard, at least ``minimum`` seconds."""
    async with Observer(interfaces, settings) as observer:
        started = time.monotonic()
        while True:
            wanted = (
                duration
                if duration is not None
                else max(minimum, 3 * observer.longest_interval_seconds)
            )
            left = started + wanted - time.monotonic()
            if left <= 0:
                return observer.snapshot()
            await asyncio.sleep(min(left, 0.1))
