"""What the adverts heard on one segment mean: routers, master, and the failures they show.

Pure logic, no sockets and no clock of its own: feed it ``(advert, receive time)``
with ``Segment.advert`` and let time pass with ``Segment.tick``; read frozen
``SegmentView`` snapshots. Tests drive it with captured adverts and a made-up clock.

In VRRP only the master sends adverts, so "who is master" is "who is advertising"
(priority 0 means "I am leaving"). A router counts as advertising while its last
advert had a non-zero priority and is younger than its Master_Down_Interval.

Split brain vs. preemption: when a higher-priority router starts, the old master
hears it and falls silent at once, so their adverts interleave for about one
interval. Split brain is two routers whose advertising runs overlap (from the
later run's start to the earlier of their latest adverts) for longer than
Master_Down_Interval. Its start is when the overlap began, its end when fewer
than two of them were still advertising.

No master: after a master was seen, silence for longer than the slowest backup
(priority 1) would wait before taking over, plus a grace for timer jitter; a
backup that takes over in time never causes it.

Configured versus heard: ``Segment.expect`` hands it what this node's keepalived.conf
says of the VRID (a VrrpExpectation, from the daemon). Each router heard is then held
against it (config_vips, config_interval, config_version; config_priority for this
node's own router, allowing its track weights), and this node's own instance gets a
state from its adverts and the others' (lvsmon.model.vrrp.OWN_STATES says how).
"""

from __future__ import annotations

import functools
import ipaddress
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lvsmon.model import Advert
from lvsmon.model import vrrp as view
from lvsmon.model.vrrp import (
    Anomaly,
    RouterSeen,
    SegmentEvent,
    SegmentView,
    VrrpExpectation,
    master_down_interval,
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Thresholds of the detections."""

    flap_threshold: int = 3  # flapping: more master changes than this ...
    flap_window_seconds: float = 60.0  # ... within this window
    # Routers silent for longer are left out of mismatch checks (still listed).
    forget_after_seconds: float = 60.0
    # no_master waits this fraction of the advert interval beyond Master_Down_Interval.
    no_master_grace_intervals: float = 0.5
    event_log_length: int = 200
    # Forged sources must not grow memory without bound: the longest silent go first.
    max_routers: int = 64
    ended_anomalies_kept: int = 50


class _Router:
    """Mutable state of one router; RouterSeen is its snapshot."""

    def __init__(self, advert: Advert, now: float):
        self.address = advert.source
        self.first_seen = now
        self.adverts = 0
        self.run_start: float | None = None  # start of the current advertising run
        self.update(advert, now)

    def update(self, advert: Advert, now: float) -> None:
        self.version = advert.version
        self.priority = advert.priority
        self.interval_cs = advert.advert_interval_centiseconds
        self.auth_type = advert.auth_type
        self.auth_data = advert.auth_data
        self.vips = advert.addresses
        self.checksum_form = advert.checksum_form
        self.ttl = advert.ttl
        self.adverts += 1
        self.last_seen = now
        # Worked out once per advert, not on every check of every 0.1 s tick. An interval
        # of 0 is invalid on the wire; taken as 1 cs to keep the arithmetic sane.
        self.interval = max(self.interval_cs, 1) / 100
        self.down_interval = master_down_interval(self.interval, max(self.priority, 1))

    def advertising(self, now: float) -> bool:
        return self.priority > 0 and now - self.last_seen <= self.down_interval

    def snapshot(self, now: float, instance: str | None = None) -> RouterSeen:
        return RouterSeen(
            address=self.address,
            version=self.version,
            priority=self.priority,
            advert_interval_centiseconds=self.interval_cs,
            auth_type=self.auth_type,
            vips=self.vips,
            checksum_form=self.checksum_form,
            ttl=self.ttl,
            adverts=self.adverts,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            advertising=self.advertising(now),
            keepalived_instance=instance,
        )


class _OpenAnomaly:
    def __init__(self, name: str, start: float, routers: tuple[str, ...], detail: str):
        self.name, self.start, self.routers, self.detail = name, start, routers, detail

    def snapshot(self, end: float | None = None) -> Anomaly:
        return Anomaly(self.name, self.start, end, self.routers, self.detail)


# Both run for every router on every evaluation (each advert, each 0.1 s tick), with
# the few addresses a segment has: parsed once each. Bounded, as sources can be forged.
@functools.lru_cache(maxsize=4096)
def _address_key(address: str) -> int:
    return int(ipaddress.ip_address(address.partition("%")[0]))


@functools.lru_cache(maxsize=4096)
def _plain(address: str) -> str:
    """An address without its %scope, normalised, for comparing."""
    try:
        return str(ipaddress.ip_address(address.partition("%")[0]))
    except ValueError:
        return address


class Segment:
    """The view of one (interface, family, VRID), fed adverts and clock ticks."""

    def __init__(self, interface: str, family: str, vrid: int, settings: Settings | None = None):
        self.interface, self.family, self.vrid = interface, family, vrid
        self.settings = settings or Settings()
        self._routers: dict[str, _Router] = {}
        self._master: str | None = None
        self._last_master: str | None = None
        self._master_since: float | None = None
        self._master_changes = 0
        self._change_times: deque[float] = deque()
        self._last_advert_at: float | None = None
        self._last_master_interval = 1.0
        self._open: dict[tuple[str, str], _OpenAnomaly] = {}
        self._ended: deque[Anomaly] = deque(maxlen=self.settings.ended_anomalies_kept)
        self._events: deque[SegmentEvent] = deque(maxlen=self.settings.event_log_length)
        self._expected: VrrpExpectation | None = None
        self._expected_since = 0.0
        self._own: frozenset[str] = frozenset()  # this node's addresses, plain
        self._own_state: str | None = None
        # What the last mismatch checks saw: they only need repeating after an advert or
        # when a router's presence changed (most ticks change neither).
        self._mismatches_checked: tuple[str, ...] | None = None

    # -- input ------------------------------------------------------------------

    def advert(self, advert: Advert, now: float) -> None:
        """One advert from this segment, received at ``now``."""
        router = self._routers.get(advert.source)
        if router is None:
            self._make_room()
            router = self._routers[advert.source] = _Router(advert, now)
            self._log(now, "router_heard", f"{advert.source} priority {advert.priority}")
        else:
            was_advertising = router.advertising(now)
            router.update(advert, now)
            if not was_advertising:
                router.run_start = None
        if advert.priority == 0:
            router.run_start = None
            self._log(now, "release", f"{advert.source} sent priority 0")
            self._start(
                view.GRACEFUL_RELEASE,
                advert.source,
                now,
                (advert.source,),
                f"{advert.source} gave up mastership (priority 0)",
            )
        elif router.run_start is None:
            router.run_start = now
        self._last_advert_at = now
        self._mismatches_checked = None
        self._per_advert_checks(advert, now)
        self._check_configured(router, now)
        self._evaluate(now)

    def tick(self, now: float) -> None:
        """Let time pass: ends advertising runs, starts no_master, ends time-bound anomalies."""
        self._evaluate(now)

    def expect(self, expectation: VrrpExpectation | None, now: float) -> None:
        """What this node's configuration says of this VRID (None: nothing); judged at once."""
        if expectation == self._expected:
            return
        if self._expected is None or expectation is None or (
                expectation.instance != self._expected.instance):
            self._expected_since = now
        self._expected = expectation
        own = expectation.own_addresses if expectation is not None else ()
        self._own = frozenset(_plain(address) for address in own)
        for router in self._routers.values():
            self._check_configured(router, now)
        self._evaluate(now)

    @property
    def heard(self) -> bool:
        return bool(self._routers)

    @property
    def expected(self) -> VrrpExpectation | None:
        return self._expected

    # -- output -----------------------------------------------------------------

    def snapshot(self, now: float) -> SegmentView:
        routers = sorted(self._routers.values(), key=lambda r: _address_key(r.address))
        anomalies = list(self._ended) + [item.snapshot() for item in self._open.values()]
        anomalies.sort(key=lambda anomaly: anomaly.start)
        instance = self._expected.instance if self._expected is not None else None
        return SegmentView(
            interface=self.interface,
            family=self.family,
            vrid=self.vrid,
            master=self._master,
            master_since=self._master_since,
            master_changes=self._master_changes,
            routers=tuple(router.snapshot(now, instance if self._is_own(router) else None)
                          for router in routers),
            anomaly_history=tuple(anomalies),
            # Anomalies are logged at their start, which may lie in the past.
            events=tuple(sorted(self._events, key=lambda event: event.at)),
            taken_at=now,
            configured=self._expected,
            own_state=self._own_state,
        )

    @property
    def longest_interval_seconds(self) -> float:
        return max((router.interval for router in self._routers.values()), default=0.0)

    # -- detection ----------------------------------------------------------------

    def _per_advert_checks(self, advert: Advert, now: float) -> None:
        source = advert.source
        if advert.ttl_ok:
            self._stop(view.BAD_TTL, source, now)
        else:
            self._start(
                view.BAD_TTL,
                source,
                now,
                (source,),
                f"{source} sends TTL/hop limit {advert.ttl}, not 255",
            )
        if advert.checksum_ok:
            self._stop(view.BAD_CHECKSUM, source, now)
        else:
            self._start(
                view.BAD_CHECKSUM,
                source,
                now,
                (source,),
                f"{source} sends checksums matching no known form",
            )

    def _evaluate(self, now: float) -> None:
        advertising = [r for r in self._routers.values() if r.advertising(now)]
        self._follow_master(advertising, now)
        self._check_no_master(advertising, now)
        self._check_split_brain(advertising, now)
        self._check_mismatches(now)
        self._check_flapping(now)
        self._forget_stale_per_router(now)
        self._follow_own_state(now)

    def _follow_master(self, advertising: list[_Router], now: float) -> None:
        best = max(advertising, key=lambda r: (r.priority, _address_key(r.address)), default=None)
        master = best.address if best else None
        if best is not None:
            self._last_master_interval = best.interval
            # A release is over once some router advertises after it.
            for name, subject in list(self._open):
                if (
                    name == view.GRACEFUL_RELEASE
                    and best.last_seen > self._open[(name, subject)].start
                ):
                    self._stop(name, subject, best.last_seen)
        if master == self._master:
            return
        self._master = master
        if master is None:
            self._log(now, "master", "no router is advertising")
            return
        self._master_since = best.run_start
        if master != self._last_master:
            if self._last_master is not None:
                self._master_changes += 1
                self._change_times.append(now)
            self._log(now, "master", f"{master} is master (priority {best.priority})")
            self._last_master = master

    def _check_no_master(self, advertising: list[_Router], now: float) -> None:
        if advertising or self._last_advert_at is None:
            self._stop(view.NO_MASTER, "", now)
            return
        # The slowest backup (priority 1) waits this long after the last advert it heard.
        interval = self._last_master_interval
        grace = self.settings.no_master_grace_intervals * interval
        wait = master_down_interval(interval, 1) + grace
        if now - self._last_advert_at > wait:
            self._start(
                view.NO_MASTER,
                "",
                self._last_advert_at + wait,
                (),
                f"no advert for more than {wait:.2f} s",
            )

    def _check_split_brain(self, advertising: list[_Router], now: float) -> None:
        involved: dict[str, _Router] = {}
        overlap_start = None
        for i, first in enumerate(advertising):
            for second in advertising[i + 1 :]:
                begin = max(first.run_start, second.run_start)
                overlap = min(first.last_seen, second.last_seen) - begin
                limit = master_down_interval(
                    max(first.interval, second.interval), min(first.priority, second.priority)
                )
                if overlap > limit:
                    involved[first.address] = first
                    involved[second.address] = second
                    overlap_start = begin if overlap_start is None else min(overlap_start, begin)
        key = (view.SPLIT_BRAIN, "")
        current = self._open.get(key)
        if involved:
            names = tuple(sorted(involved, key=_address_key))
            if current is None:
                self._start(view.SPLIT_BRAIN, "", overlap_start, names, _split_detail(names))
            elif set(names) - set(current.routers):
                current.routers = tuple(sorted(set(current.routers) | set(names), key=_address_key))
                current.detail = _split_detail(current.routers)
            return
        if current is not None:
            # It ended when the second-to-last of its routers stopped advertising.
            last_times = sorted(
                (self._routers[a].last_seen for a in current.routers if a in self._routers),
                reverse=True,
            )
            end = last_times[1] if len(last_times) > 1 else now
            self._stop(view.SPLIT_BRAIN, "", max(end, current.start))

    def _check_mismatches(self, now: float) -> None:
        present = [
            r
            for r in self._routers.values()
            if now - r.last_seen <= self.settings.forget_after_seconds
        ]
        seen = tuple(router.address for router in present)
        if seen == self._mismatches_checked:
            return
        self._mismatches_checked = seen
        self._differ(
            view.INTERVAL_MISMATCH,
            present,
            now,
            lambda r: r.interval_cs,
            lambda cs: f"advert interval {cs / 100:g} s",
        )
        self._differ(
            view.VERSION_MISMATCH, present, now, lambda r: r.version, lambda v: f"VRRPv{v}"
        )
        self._differ(
            view.AUTH_MISMATCH,
            [r for r in present if r.version == 2],
            now,
            lambda r: (r.auth_type, r.auth_data),
            _describe_auth,
        )
        self._check_vip_sets(present, now)
        owners = tuple(sorted((r.address for r in present if r.priority == 255), key=_address_key))
        if len(owners) > 1:
            self._start(
                view.DUPLICATE_OWNER,
                "",
                now,
                owners,
                f"priority 255 claimed by {', '.join(owners)}",
            )
        else:
            self._stop(view.DUPLICATE_OWNER, "", now)

    def _differ(
        self,
        name: str,
        routers: list[_Router],
        now: float,
        value_of: Callable[[_Router], object],
        describe: Callable[[object], str],
    ) -> None:
        """Open ``name`` while the routers disagree on ``value_of``; keep its text current."""
        groups: dict[object, list[str]] = {}
        for router in routers:
            groups.setdefault(value_of(router), []).append(router.address)
        if len(groups) < 2:
            self._stop(name, "", now)
            return
        involved = tuple(sorted((a for group in groups.values() for a in group), key=_address_key))
        detail = "; ".join(f"{describe(v)}: {', '.join(group)}" for v, group in groups.items())
        self._start(name, "", now, involved, detail)
        self._open[(name, "")].routers = involved
        self._open[(name, "")].detail = detail

    def _check_vip_sets(self, present: list[_Router], now: float) -> None:
        sets: dict[frozenset[str], list[str]] = {}
        for router in present:
            sets.setdefault(frozenset(router.vips), []).append(router.address)
        groups = list(sets.items())
        disjoint = any(
            a and b and not (a & b) for i, (a, _) in enumerate(groups) for b, _ in groups[i + 1 :]
        )
        routers = tuple(sorted((a for _, group in groups for a in group), key=_address_key))
        detail = "; ".join(
            f"{{{', '.join(sorted(vips))}}}: {', '.join(group)}" for vips, group in groups
        )
        for name, holds in (
            (view.VRID_COLLISION, disjoint),
            (view.VIP_MISMATCH, len(groups) > 1 and not disjoint),
        ):
            if holds:
                self._start(name, "", now, routers, detail)
            else:
                self._stop(name, "", now)

    def _check_flapping(self, now: float) -> None:
        window, threshold = self.settings.flap_window_seconds, self.settings.flap_threshold
        times = self._change_times
        recent = sum(1 for t in times if t > now - window)
        if recent > threshold:
            self._start(
                view.FLAPPING, "", now, (), f"more than {threshold} master changes in {window:g} s"
            )
        elif (view.FLAPPING, "") in self._open:
            # The count fell to the threshold when the oldest change keeping it above
            # left the window (times always keeps the last threshold + 1 changes).
            self._stop(view.FLAPPING, "", min(times[-(threshold + 1)] + window, now))
        while len(times) > threshold + 1 and times[0] <= now - window:
            times.popleft()

    def _forget_stale_per_router(self, now: float) -> None:
        for name, subject in list(self._open):
            if name in _PER_ROUTER:
                router = self._routers.get(subject)
                if router is None:  # pushed out by _make_room
                    self._stop(name, subject, now)
                elif now - router.last_seen > self.settings.forget_after_seconds:
                    self._stop(name, subject, router.last_seen)

    # -- configured versus heard -----------------------------------------------------

    def _is_own(self, router: _Router) -> bool:
        return bool(self._own) and _plain(router.address) in self._own

    def _check_configured(self, router: _Router, now: float) -> None:
        """Hold one router's latest advert against the configuration."""
        expected, source = self._expected, router.address
        if expected is None:
            for name in view.CONFIG_ANOMALIES:
                self._stop(name, source, now)
            return
        vips = frozenset(router.vips)
        wanted = frozenset(expected.vips)
        checks = (
            (view.CONFIG_VIPS, vips != wanted,
             f"configured {_vip_set(wanted)}, heard {_vip_set(vips)} from {source}"),
            (view.CONFIG_INTERVAL, router.interval_cs != expected.advert_interval_centiseconds,
             f"configured {expected.advert_interval_seconds:g} s, heard "
             f"{router.interval_cs / 100:g} s from {source}"),
            (view.CONFIG_VERSION, router.version != expected.version,
             f"configured VRRPv{expected.version}, heard VRRPv{router.version} from {source}"),
            # Priority 0 is a release, not a priority; a peer's priority is not in this file.
            (view.CONFIG_PRIORITY, self._is_own(router) and router.priority > 0
             and not expected.allows_priority(router.priority),
             f"configured {expected.priority}{_tracks(expected)}, heard {router.priority} "
             f"from {source}"),
        )
        for name, differs, detail in checks:
            if differs:
                self._start(name, source, now, (source,), detail)
                self._open[(name, source)].detail = detail  # the latest figures
            else:
                self._stop(name, source, now)

    def _follow_own_state(self, now: float) -> None:
        state = self._judge_own_state(now)
        if state == self._own_state:
            return
        if self._expected is not None:
            self._log(now, "own_state", f"{self._expected.instance} (this node): "
                                        f"{self._own_state or 'unknown'} -> {state or 'unknown'}")
        self._own_state = state

    def _judge_own_state(self, now: float) -> str | None:
        """lvsmon.model.vrrp.OWN_STATES defines the states this follows."""
        expected = self._expected
        if expected is None:
            return None
        own = max((r for r in self._routers.values() if self._is_own(r)),
                  key=lambda r: r.last_seen, default=None)
        if own is not None and own.advertising(now):
            return view.OWN_MASTER
        others = [r for r in self._routers.values() if r is not own and not self._is_own(r)]
        if own is not None and own.priority == 0 and not any(
                r.priority > 0 and r.last_seen > own.last_seen for r in others):
            return view.OWN_FAULT  # it gave up mastership and nobody took over
        if any(r.advertising(now) for r in others):
            return view.OWN_BACKUP
        heard = [r.last_seen for r in self._routers.values() if r.priority > 0]
        interval = expected.advert_interval_seconds
        wait = (master_down_interval(interval, max(expected.priority, 1))
                + self.settings.no_master_grace_intervals * interval)
        if now - max([self._expected_since, *heard]) > wait:
            return view.OWN_FAULT
        return view.OWN_BACKUP if heard else None

    # -- bookkeeping --------------------------------------------------------------

    def _make_room(self) -> None:
        while len(self._routers) >= self.settings.max_routers:
            oldest = min(self._routers.values(), key=lambda router: router.last_seen)
            del self._routers[oldest.address]

    def _start(
        self, name: str, subject: str, start: float, routers: tuple[str, ...], detail: str
    ) -> None:
        if (name, subject) in self._open:
            return
        self._open[(name, subject)] = _OpenAnomaly(name, start, routers, detail)
        self._log(start, "anomaly_start", f"{name}: {detail}")

    def _stop(self, name: str, subject: str, end: float) -> None:
        item = self._open.pop((name, subject), None)
        if item is None:
            return
        self._ended.append(item.snapshot(end))
        self._log(end, "anomaly_end", f"{name} ended ({item.detail})")

    def _log(self, at: float, kind: str, detail: str) -> None:
        self._events.append(SegmentEvent(at, kind, detail))


def _describe_auth(auth: object) -> str:
    auth_type, data = auth  # type: ignore[misc]
    if auth_type == "simple":
        # Never show the password: only enough to tell two apart.
        return f"auth simple (password #{zlib.crc32(data) & 0xFFFF:04x})"
    return f"auth {auth_type}"


# Anomalies about one router (the subject is its address): they end when it falls silent.
_PER_ROUTER = (view.BAD_TTL, view.BAD_CHECKSUM, *view.CONFIG_ANOMALIES)


def _vip_set(vips: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(vips, key=_address_key)) + "}"


def _tracks(expected: VrrpExpectation) -> str:
    weights = [w for w in expected.track_weights if w]
    if not weights or expected.priority == 255:
        return ""
    return " (track weights " + " ".join(f"{w:+d}" for w in weights) + ")"


def _split_detail(routers: tuple[str, ...]) -> str:
    return f"{len(routers)} routers advertising at once: {', '.join(routers)}"
