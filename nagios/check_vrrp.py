"""check_vrrp: does every VRRP virtual router on this load balancer's segments have one master?

Asks the running lvsmon daemon (`lvsmon run`) over its status socket: its observer hears
every VRRP advert on the wire, so it sees what no single keepalived node sees (two masters
at once, nobody advertising, routers that disagree). The check judges each selected segment
(one interface, address family and VRID; --interface, --vrid, --family select, default all)
by the anomalies the observer reports, never by a raw count of one moment:

  CRITICAL  split brain: two or more routers advertising at once for longer than
            Master_Down_Interval (a preemption's short overlap is not one);
  CRITICAL  no master: no advert for longer than the slowest backup would wait before
            taking over, after a master was seen. During a normal takeover nobody
            advertises for a moment; that is not "no master" and stays OK;
  WARNING   flapping: more master changes within the window than the threshold (the
            daemon's [observer] flap_threshold / flap_window, or --flap-warning /
            --flap-critical over --flap-window);
  WARNING   interval, auth, VIP-set or version mismatch, VRID collision, duplicate address
            owner, adverts with a TTL / hop limit other than 255 or a checksum matching no
            known form: misconfigurations that break the next failover, not the service now;
  WARNING   configured versus heard (the daemon reads this node's keepalived.conf,
            [keepalived] config): a router's VIPs, advert interval or version, or this
            node's own priority, differ from the file;
  WARNING   this node's keepalived instance is in fault as the wire shows it (it gave up
            mastership and nobody took over, or nobody advertises the VRID at all);
  WARNING   --expect-master: another router is master (e.g. after a failover with
            nopreempt: the service runs, on the node you did not plan for);
  WARNING   --instance: the participant instance is in FAULT, or not in --expect-state;
  WARNING   no VRID heard, or none matches the selection: nothing to vouch for (a wrong
            --vrid, unicast VRRP this host does not hear, or a segment silent since the
            daemon started, where "no master" cannot be judged);
  OK        otherwise, including a priority-0 release (keepalived stopping) that a backup
            answers, and one failover with its master change.

UNKNOWN (exit 3, one line): no daemon at --socket, no answer within -t, the observer off
(without --instance), failing or starting, an unknown --instance, a bad option or range.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import nagiosplugin

from lvsmon.errors import UsageError
from lvsmon.model.daemon import SourceState
from lvsmon.model.vrrp import (
    AUTH_MISMATCH,
    BACKUP,
    BAD_CHECKSUM,
    BAD_TTL,
    CONFIG_INTERVAL,
    CONFIG_PRIORITY,
    CONFIG_VERSION,
    CONFIG_VIPS,
    DUPLICATE_OWNER,
    FAULT,
    FLAPPING,
    GRACEFUL_RELEASE,
    INITIALIZE,
    INTERVAL_MISMATCH,
    MASTER,
    NO_MASTER,
    OWN_BACKUP,
    OWN_FAULT,
    OWN_MASTER,
    SPLIT_BRAIN,
    VERSION_MISMATCH,
    VIP_MISMATCH,
    VRID_COLLISION,
    Anomaly,
    InstanceSnapshot,
    ObserverSnapshot,
    ParticipantSnapshot,
    SegmentView,
)
from lvsmon.status_client import ask_source
from lvsmon_nagios.plugin import (
    PluginParser,
    ThresholdContext,
    WorstFirstSummary,
    perf_label,
    run,
    threshold,
)

DEFAULT_FLAP_WINDOW_SECONDS = 60.0  # the daemon's default [observer] flap_window
FAMILIES = ("inet", "inet6")  # as the model spells SegmentView.family

# What each anomaly the observer reports is worth, and how the status line names it.
ANOMALY_STATES = {
    SPLIT_BRAIN: (nagiosplugin.Critical, "split brain"),
    NO_MASTER: (nagiosplugin.Critical, "no master"),
    FLAPPING: (nagiosplugin.Warn, "flapping"),
    INTERVAL_MISMATCH: (nagiosplugin.Warn, "advert interval mismatch"),
    AUTH_MISMATCH: (nagiosplugin.Warn, "authentication mismatch"),
    VIP_MISMATCH: (nagiosplugin.Warn, "VIP set mismatch"),
    VERSION_MISMATCH: (nagiosplugin.Warn, "VRRP version mismatch"),
    VRID_COLLISION: (nagiosplugin.Warn, "VRID collision"),
    DUPLICATE_OWNER: (nagiosplugin.Warn, "duplicate address owner"),
    BAD_TTL: (nagiosplugin.Warn, "bad TTL"),
    BAD_CHECKSUM: (nagiosplugin.Warn, "bad checksum"),
    CONFIG_PRIORITY: (nagiosplugin.Warn, "priority not as in keepalived.conf"),
    CONFIG_VIPS: (nagiosplugin.Warn, "VIPs not as in keepalived.conf"),
    CONFIG_INTERVAL: (nagiosplugin.Warn, "advert interval not as in keepalived.conf"),
    CONFIG_VERSION: (nagiosplugin.Warn, "VRRP version not as in keepalived.conf"),
    # A master said goodbye (priority 0) and a backup takes over within its skew time; if
    # none does, no_master follows. Shown, never judged.
    GRACEFUL_RELEASE: (nagiosplugin.Ok, "graceful release"),
}
OTHER_ANOMALY = "other_anomaly"  # a name a newer daemon reports that this check does not know

# An instance's state as a number: keepalived's own encoding (vrrpInstanceState of
# KEEPALIVED-MIB: init 0, backup 1, master 2, fault 3), so graphs of both agree.
STATE_NUMBERS = {INITIALIZE: 0, BACKUP: 1, MASTER: 2, FAULT: 3}
OWN_STATE_NUMBERS = {OWN_BACKUP: 1, OWN_MASTER: 2, OWN_FAULT: 3}  # the same numbers
EXPECTABLE_STATES = {"master": MASTER, "backup": BACKUP}

# lvsmon.vrrp.segment logs each new master as "<address> is master (priority N)"; the
# first master ever seen is logged the same way but is no change.
_NEW_MASTER = re.compile(r"\S+ is master\b")


# -- what is judged ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which segments to judge; None matches any."""

    interface: str | None = None
    family: str | None = None
    vrid: int | None = None

    def matches(self, view: SegmentView) -> bool:
        return ((self.interface is None or view.interface == self.interface)
                and (self.family is None or view.family == self.family)
                and (self.vrid is None or view.vrid == self.vrid))

    @property
    def everything(self) -> bool:
        return self == Selection()

    def __str__(self) -> str:
        parts = [f"{option} {value}" for option, value in (
            ("--interface", self.interface), ("--family", self.family), ("--vrid", self.vrid))
            if value is not None]
        return " ".join(parts) or "(all)"


def segment_name(view: SegmentView) -> str:
    """How the performance data name a segment, e.g. "eth0 inet VRID 51"."""
    return f"{view.interface} {view.family} VRID {view.vrid}"


def segment_title(view: SegmentView) -> str:
    """How the text names it: with its keepalived instance, e.g. "eth0 inet VRID 51 (VI_1)"."""
    name = view.keepalived_instance
    return segment_name(view) + (f" ({name})" if name else "")


def master_changes_since(view: SegmentView, since: float) -> int:
    """Master changes after `since`, counted in the segment's event log.

    The log (the latest events) names each new master; it holds the first master ever seen
    too when it holds master_changes + 1 of them, and that one is no change. A log cut
    short within the window gives a lower bound, enough to cross any sane threshold.
    """
    named = [event for event in view.events
             if event.kind == "master" and _NEW_MASTER.match(event.detail)]
    if len(named) > view.master_changes:
        named = named[1:]
    return sum(1 for event in named if event.at > since)


@dataclass(frozen=True)
class SegmentHealth:
    """One selected segment as the check reads it."""

    name: str
    view: SegmentView
    recent_master_changes: int
    last_advert_age: float  # seconds before the snapshot was taken

    @property
    def title(self) -> str:
        return segment_title(self.view)

    @classmethod
    def of(cls, view: SegmentView, flap_window: float) -> SegmentHealth:
        last = max((router.last_seen for router in view.routers), default=view.taken_at)
        return cls(segment_name(view), view,
                   master_changes_since(view, view.taken_at - flap_window),
                   max(view.taken_at - last, 0.0))

    def anomalies(self) -> dict[str, tuple[Anomaly, ...]]:
        """The active anomalies by name (bad TTL and checksum come one per router)."""
        found: dict[str, list[Anomaly]] = {}
        for anomaly in self.view.active_anomalies:
            found.setdefault(anomaly.name, []).append(anomaly)
        return {name: tuple(items) for name, items in found.items()}


def same_address(one: str, other: str) -> bool:
    """Equal addresses however written (IPv6 compressed or not, with a %scope or not)."""
    try:
        return (ipaddress.ip_address(one.partition("%")[0])
                == ipaddress.ip_address(other.partition("%")[0]))
    except ValueError:
        return one == other


# -- the pipeline: resource -> metrics -> contexts -> summary ---------------------------------


class VrrpDaemon(nagiosplugin.Resource):
    """One question to the daemon (two with --instance); metrics per segment and instance."""

    def __init__(self, socket_path: str, answer_within: float, selection: Selection,
                 flap_window: float, expect_master: str | None = None,
                 instance: str | None = None):
        self.socket_path = socket_path
        self.answer_within = answer_within
        self.selection = selection
        self.flap_window = flap_window
        self.expect_master = expect_master
        self.instance_name = instance
        self.observer: ObserverSnapshot | None = None  # None: the observer is off
        self.segments: dict[str, SegmentHealth] = {}  # by name, in the daemon's order
        self.instance: InstanceSnapshot | None = None

    @property
    def name(self) -> str:
        return "VRRP"

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        observer = ask_source(self.socket_path, "vrrp", self.answer_within)
        if self.instance_name is not None:
            self.instance = self._instance(
                ask_source(self.socket_path, "participant", self.answer_within))
            yield from self._instance_metrics(self.instance)
        if not observer.enabled and self.instance is not None:
            return  # a participant-only daemon: the instance is all there is to judge
        self.observer = _usable(observer, "VRRP observer",
                                "set [observer] enabled = true in its configuration")
        selection = self._selection()
        for view in self.observer.segments:
            if selection.matches(view):
                health = SegmentHealth.of(view, self.flap_window)
                self.segments[health.name] = health
                yield from self._segment_metrics(health)
        yield nagiosplugin.Metric("segments", len(self.segments), min=0, context="segments")

    def _selection(self) -> Selection:
        """With --instance and no selection of its own: the instance's segment."""
        if self.instance is not None and self.selection.everything:
            return Selection(self.instance.interface, self.instance.family, self.instance.vrid)
        return self.selection

    def _instance(self, source: SourceState[ParticipantSnapshot]) -> InstanceSnapshot:
        participant = _usable(source, "VRRP participant",
                              "configure it with [[vrrp.instance]] tables", partial=True)
        for instance in participant.instances:
            if instance.name == self.instance_name:
                return instance
        names = ", ".join(instance.name for instance in participant.instances) or "none"
        failing = f"; the participant reports: {source.error}" if source.error else ""
        raise nagiosplugin.CheckError(
            f"the daemon's VRRP participant has no instance {self.instance_name!r} "
            f"(its instances: {names}){failing}")

    def _segment_metrics(self, health: SegmentHealth) -> Iterator[nagiosplugin.Metric]:
        view, name = health.view, health.name
        yield nagiosplugin.Metric(perf_label(name, "masters"), len(view.masters), min=0,
                                  context="masters")
        yield nagiosplugin.Metric(perf_label(name, "routers"), len(view.routers), min=0,
                                  context="routers")
        yield nagiosplugin.Metric(perf_label(name, "master_changes"), view.master_changes,
                                  "c", min=0, context="master_changes")
        yield nagiosplugin.Metric(perf_label(name, "recent_master_changes"),
                                  health.recent_master_changes, min=0,
                                  context="recent_master_changes")
        yield nagiosplugin.Metric(perf_label(name, "last_advert"),
                                  round(health.last_advert_age, 2), "s", min=0,
                                  context="last_advert")
        for anomaly, found in health.anomalies().items():
            context = anomaly if anomaly in ANOMALY_STATES else OTHER_ANOMALY
            yield nagiosplugin.Metric(perf_label(name, anomaly), found, context=context)
        if self.expect_master is not None:
            yield nagiosplugin.Metric(perf_label(name, "master"), view.master,
                                      context="expect_master")
        if view.own_state is not None:
            yield nagiosplugin.Metric(perf_label(name, "own_state"),
                                      OWN_STATE_NUMBERS[view.own_state], min=1, max=3,
                                      context="own_state")

    def _instance_metrics(self, instance: InstanceSnapshot) -> Iterator[nagiosplugin.Metric]:
        label = f"instance {instance.name}"
        yield nagiosplugin.Metric(perf_label(label, "state"),
                                  STATE_NUMBERS.get(instance.state, -1), min=0, max=3,
                                  context="instance_state")
        yield nagiosplugin.Metric(perf_label(label, "priority"), instance.priority, min=0,
                                  max=255, context="instance_priority")

    def about(self, metric: nagiosplugin.Metric) -> SegmentHealth:
        """The segment a per-segment metric is about."""
        for name, health in self.segments.items():
            if metric.name.startswith(perf_label(name) + " "):
                return health
        raise KeyError(metric.name)


def _usable(source: SourceState, what: str, enable_hint: str, partial: bool = False):
    """The source's snapshot, or CheckError (UNKNOWN) saying why the daemon has none.

    partial: a snapshot published with an error is still used (the participant reports
    one failing instance that way and keeps the others).
    """
    if not source.enabled:
        raise nagiosplugin.CheckError(f"the daemon's {what} is off: {enable_hint}")
    if source.snapshot is not None and (partial or source.error is None):
        return source.snapshot
    if source.error:
        since = (f" since {time.strftime('%H:%M:%S', time.localtime(source.error_since))}"
                 if source.error_since else "")
        raise nagiosplugin.CheckError(f"the daemon's {what} is unavailable{since}: "
                                      f"{source.error}")
    raise nagiosplugin.CheckError(f"the daemon's {what} is starting: no snapshot yet")


def _about(metric: nagiosplugin.Metric) -> SegmentHealth:
    return metric.resource.about(metric)


class AnomalyContext(nagiosplugin.Context):
    """An active anomaly of one segment, judged by the table ANOMALY_STATES."""

    def __init__(self, name: str, state: nagiosplugin.state.ServiceState, words: str):
        super().__init__(name)
        self.state = state
        self.words = words

    def evaluate(self, metric, resource):
        health = _about(metric)
        anomalies: tuple[Anomaly, ...] = metric.value
        started = min(anomaly.start for anomaly in anomalies)
        lasting = _duration(health.view.taken_at - started)
        details = "; ".join(anomaly.detail for anomaly in anomalies if anomaly.detail)
        words = self.words if self.name != OTHER_ANOMALY else anomalies[0].name
        return self.result_cls(self.state, f"{health.title}: {words} for {lasting}"
                                           + (f" ({details})" if details else ""), metric)


class SegmentsContext(nagiosplugin.Context):
    """Nothing heard, or nothing matching the selection: WARNING, saying which."""

    def evaluate(self, metric, resource):
        if metric.value:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        observer = resource.observer
        where = ", ".join(observer.interfaces) or "no interface"
        if not observer.segments:
            return self.result_cls(nagiosplugin.Warn,
                                   f"no VRRP advert heard (the daemon listens on {where})",
                                   metric)
        heard = ", ".join(segment_name(view) for view in observer.segments)
        selected = (f"instance {resource.instance.name}'s segment "
                    f"{resource.instance.interface} {resource.instance.family} VRID "
                    f"{resource.instance.vrid}" if resource.instance is not None
                    and resource.selection.everything else str(resource.selection))
        return self.result_cls(nagiosplugin.Warn,
                               f"no VRID heard matches {selected} (heard: {heard})", metric)

    def performance(self, metric, resource):
        return nagiosplugin.Performance(metric.name, metric.value, min=0)


class ExpectedMasterContext(nagiosplugin.Context):
    """--expect-master: another router as master is WARNING, never more.

    With nopreempt, the old master comes back as backup after a failover and the VRID stays
    where it went: a state to know of (to fail back at a quiet time), not an outage. Nobody
    advertising now is judged by no_master, not here (a takeover is in progress).
    """

    def __init__(self, expected: str):
        super().__init__("expect_master")
        self.expected = expected

    def evaluate(self, metric, resource):
        master = metric.value
        if master is None or same_address(master, self.expected):
            return self.result_cls(nagiosplugin.Ok, None, metric)
        return self.result_cls(nagiosplugin.Warn,
                               f"{_about(metric).title}: master is {master}, not "
                               f"{self.expected} as expected", metric)


class InstanceStateContext(nagiosplugin.Context):
    """The participant instance: FAULT, or a state other than --expect-state, is WARNING.

    Like an unexpected master, an instance in the other state (after a failover with
    nopreempt) or in FAULT (its track failed; the peer serves) costs redundancy, not
    service: the segment's own judgement pages when nobody serves.
    """

    def __init__(self, expect_state: str | None):
        super().__init__("instance_state")
        self.expect_state = expect_state

    def evaluate(self, metric, resource):
        instance = resource.instance
        if self.expect_state is not None and instance.state != self.expect_state:
            return self.result_cls(nagiosplugin.Warn,
                                   f"instance {instance.name} is {instance.state}, expected "
                                   f"{self.expect_state}{_tracks_failing(instance)}", metric)
        if instance.state == FAULT:
            return self.result_cls(nagiosplugin.Warn, f"instance {instance.name} is FAULT"
                                                      f"{_tracks_failing(instance)}", metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric, resource):
        return nagiosplugin.Performance(metric.name, metric.value, min=0, max=3)


class OwnStateContext(nagiosplugin.Context):
    """This node's keepalived instance in fault (as the wire shows it): WARNING. Nobody
    serving the VIPs is judged by no_master; this says whose keepalived to look at."""

    def evaluate(self, metric, resource):
        health = _about(metric)
        if health.view.own_state == OWN_FAULT:
            return self.result_cls(nagiosplugin.Warn, f"{health.title}: this node's keepalived "
                                   "instance is in fault (it gave up mastership and nobody took "
                                   "over, or nobody advertises)", metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric, resource):
        return nagiosplugin.Performance(metric.name, metric.value, min=1, max=3)


def _own(view: SegmentView) -> str:
    return f", this node {view.own_state}" if view.own_state is not None else ""


def _tracks_failing(instance: InstanceSnapshot) -> str:
    failing = [track.name for track in instance.tracks if track.ok is False]
    return f" (failing: {', '.join(failing)})" if failing else ""


class VrrpSummary(WorstFirstSummary):
    """OK: each segment's master (a count past three) and the instance. Long output (-v): a
    line per segment and instance; -vv adds each router and the anomalies that ended."""

    def __init__(self, verbose: int = 0, flap_window: float = DEFAULT_FLAP_WINDOW_SECONDS):
        self.verbose_level = verbose
        self.flap_window = flap_window

    def ok(self, results):
        resource = results[0].resource
        healths = list(resource.segments.values())
        parts = []
        if len(healths) > 3:
            parts.append(f"{len(healths)} VRIDs, each with one master")
        else:
            parts.extend(_segment_short(health) for health in healths)
        if resource.instance is not None:
            parts.append(_instance_line(resource.instance))
        return "; ".join(parts)

    def verbose(self, results):
        resource = results[0].resource
        lines = [f"{result.state}: {result}" for result in results
                 if result.state != nagiosplugin.Ok]
        for health in resource.segments.values():
            lines.append(_segment_line(health, self.flap_window))
            if self.verbose_level >= 2:
                lines.extend(_router_lines(health))
                lines.extend(_ended_anomaly_lines(health))
        if resource.instance is not None:
            lines.append(_instance_line(resource.instance, long=True))
        if resource.observer is not None:
            lines.extend(f"observer note: {warning}" for warning in resource.observer.warnings)
        return lines


def _segment_short(health: SegmentHealth) -> str:
    view = health.view
    if not view.routers:
        return f"{health.title}: nothing heard yet (configured in keepalived.conf){_own(view)}"
    if view.master is None:
        return (f"{health.title}: nobody advertising for {_duration(health.last_advert_age)}, "
                f"within the takeover time")
    router = view.router(view.master)
    priority = f" (priority {router.priority})" if router is not None else ""
    return (f"{health.title}: master {view.master}{priority}, "
            f"{_plural(len(view.routers), 'router')} heard{_own(view)}")


def _segment_line(health: SegmentHealth, flap_window: float) -> str:
    view = health.view
    since = f" since {_clock(view.master_since)}" if view.master_since else ""
    master = f"master {view.master}{since}" if view.master else "no router advertising"
    anomalies = ", ".join(view.anomaly_names) or "none"
    return (f"{health.title}: {master}; {_plural(len(view.routers), 'router')} heard, "
            f"{len(view.masters)} advertising; "
            f"{_plural(view.master_changes, 'master change')} "
            f"({health.recent_master_changes} in the last {flap_window:g} s); last advert "
            f"{health.last_advert_age:.1f} s ago; anomalies: {anomalies}{_own(view)}")


def _router_lines(health: SegmentHealth) -> list[str]:
    lines = []
    for router in health.view.routers:
        role = "advertising" if router.advertising else "silent"
        auth = f", auth {router.auth_type}" if router.auth_type else ""
        lines.append(f"  router {router.address} priority {router.priority}, VRRPv"
                     f"{router.version}, every {router.advert_interval_seconds:g} s{auth}, "
                     f"VIPs {' '.join(router.vips) or '-'}, {router.adverts} adverts, last "
                     f"{_clock(router.last_seen)}, {role}")
    return lines


def _ended_anomaly_lines(health: SegmentHealth) -> list[str]:
    return [f"  ended: {anomaly.name} {_clock(anomaly.start)}-{_clock(anomaly.end)} "
            f"({anomaly.detail})" for anomaly in health.view.anomaly_history
            if not anomaly.active]


def _instance_line(instance: InstanceSnapshot, long: bool = False) -> str:
    priority = (f"priority {instance.priority}" if instance.priority == instance.base_priority
                else f"priority {instance.priority} (base {instance.base_priority})")
    line = f"instance {instance.name} {instance.state}, {priority}"
    if not long:
        return line
    since = f" since {_clock(instance.since)}" if instance.since else ""
    return (f"{line}{since}, on {instance.interface} {instance.family} VRID {instance.vrid}, "
            f"master {instance.master or 'none'}{_tracks_failing(instance)}")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _clock(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%H:%M:%S", time.localtime(seconds))


def make_check(args: argparse.Namespace) -> nagiosplugin.Check:
    validate(args)
    selection = Selection(args.interface, args.family, args.vrid)
    own_flap_thresholds = args.flap_warning is not None or args.flap_critical is not None
    anomaly_contexts = []
    for name, (state, words) in ANOMALY_STATES.items():
        if name == FLAPPING and own_flap_thresholds:
            state = nagiosplugin.Ok  # the thresholds given replace the daemon's
        anomaly_contexts.append(AnomalyContext(name, state, words))
    return nagiosplugin.Check(
        VrrpDaemon(args.socket or default_socket(), answer_within(args.timeout), selection,
                   args.flap_window, args.expect_master, args.instance),
        *anomaly_contexts,
        AnomalyContext(OTHER_ANOMALY, nagiosplugin.Warn, "anomaly"),
        SegmentsContext("segments"),
        nagiosplugin.ScalarContext("masters"),
        nagiosplugin.ScalarContext("routers"),
        nagiosplugin.ScalarContext("master_changes"),
        ThresholdContext("recent_master_changes", args.flap_warning, args.flap_critical,
                         describe=lambda m: f"{_about(m).title}: "
                                            f"{_plural(m.value, 'master change')} in the last "
                                            f"{args.flap_window:g} s"),
        nagiosplugin.ScalarContext("last_advert"),
        ExpectedMasterContext(args.expect_master or ""),
        InstanceStateContext(EXPECTABLE_STATES.get(args.expect_state)),
        OwnStateContext("own_state"),
        nagiosplugin.ScalarContext("instance_priority"),
        VrrpSummary(args.verbose, args.flap_window),
    )


def default_socket() -> str:
    """The daemon's default socket. Imported only when --socket is not given: reading the
    configuration module (and its TOML parser) would add a fifth to every run's start-up."""
    from lvsmon.config import DEFAULT_STATUS_SOCKET

    return DEFAULT_STATUS_SOCKET


def answer_within(timeout: int) -> float:
    """The daemon's time to answer: within -t, so that a silent daemon is named as such."""
    return max(timeout * 0.8, 0.5)


def validate(args: argparse.Namespace) -> None:
    """Option combinations argparse cannot check alone."""
    if args.expect_master is not None and args.vrid is None:
        raise UsageError("check_vrrp: --expect-master needs --vrid (one VRID has one master; "
                         "add --interface or --family where the VRID is used on several)")
    if args.expect_state is not None and args.instance is None:
        raise UsageError("check_vrrp: --expect-state needs --instance NAME")


# -- the command line ---------------------------------------------------------------------------


def vrid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a VRID (1 to 255)") from None
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"VRID {value} out of range 1 to 255")
    return value


def address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 or IPv6 address") from None


def window(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"flap window {text} s out of range: more than 0, "
                                         "at most 86400")
    return value


EPILOG = """\
Performance data, per segment (labels are quoted, e.g. 'eth0 inet VRID 51 masters'):
  SEGMENT masters                routers advertising now (1 healthy; 0 for a moment during
                                 a takeover; 2 for a moment during a preemption)
  SEGMENT routers                routers heard since the daemon started (backups appear
                                 once they have been master: only masters advertise)
  SEGMENT master_changes         master changes since the daemon started (a counter, c)
  SEGMENT recent_master_changes  master changes within --flap-window (with the
                                 --flap-warning / --flap-critical ranges)
  SEGMENT last_advert            seconds since the last advert of any router (s)
  SEGMENT own_state              this node's keepalived instance, where the daemon reads
                                 keepalived.conf: 1 backup, 2 master, 3 fault (as the wire
                                 shows it; absent while not known yet)
per participant instance (--instance NAME):
  instance NAME state            0 INITIALIZE, 1 BACKUP, 2 MASTER, 3 FAULT (keepalived's
                                 encoding in KEEPALIVED-MIB vrrpInstanceState)
  instance NAME priority         the effective priority (lowered by failing tracks)
and segments, the number of segments judged.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Examples:
  check_vrrp
  check_vrrp --interface eth0 --vrid 51 --expect-master 10.0.0.11
  check_vrrp --instance web --expect-state master
  check_vrrp --flap-warning 2 --flap-critical 10 --flap-window 300

nrpe.cfg (add nagios to group lvsmon: the socket is 0660):
  command[check_vrrp]=/usr/bin/check_vrrp --socket /run/lvsmon/status.sock
"""


def make_parser() -> PluginParser:
    parser = PluginParser("check_vrrp", "VRRP", description=__doc__, epilog=EPILOG)
    parser.add_argument("--socket", metavar="PATH",
                        help="The lvsmon daemon's status socket ([daemon] status_socket) "
                             "[default: the daemon's, /run/lvsmon/status.sock].")
    select = parser.add_argument_group("which segments to judge (default: every one heard)")
    select.add_argument("--interface", metavar="IFACE",
                        help="Only segments on this interface.")
    select.add_argument("--vrid", type=vrid, metavar="N",
                        help="Only this virtual router id (1 to 255).")
    select.add_argument("--family", choices=FAMILIES,
                        help="Only this address family (VRRP over IPv4 or IPv6).")
    expect = parser.add_argument_group("expectations (WARNING when not met)")
    expect.add_argument("--expect-master", type=address, metavar="ADDR",
                        help="The router expected to be master (its advert source address); "
                             "needs --vrid. Another master is WARNING, never CRITICAL.")
    expect.add_argument("--instance", metavar="NAME",
                        help="An instance of lvsmon's own VRRP participant ([[vrrp.instance]] "
                             "name): WARNING in FAULT. Without --interface, --vrid or "
                             "--family, only its own segment is judged besides.")
    expect.add_argument("--expect-state", choices=tuple(EXPECTABLE_STATES),
                        help="The state expected of --instance; another is WARNING.")
    flaps = parser.add_argument_group(
        "flapping (default: the daemon's flapping anomaly, its [observer] flap_threshold "
        "and flap_window; these ranges replace it)")
    flaps.add_argument("-w", "--flap-warning", type=threshold, metavar="RANGE",
                       help="Range of master changes within --flap-window that is OK per "
                            "segment; outside it WARNING (e.g. 3: more than 3 warns).")
    flaps.add_argument("-c", "--flap-critical", type=threshold, metavar="RANGE",
                       help="Range of master changes within --flap-window that is not "
                            "CRITICAL (e.g. 10).")
    flaps.add_argument("--flap-window", type=window, default=DEFAULT_FLAP_WINDOW_SECONDS,
                       metavar="SECONDS",
                       help="The window of the ranges and of recent_master_changes "
                            "[default: %(default)g, the daemon's default flap_window].")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(make_parser(), make_check, argv)


if __name__ == "__main__":
    raise SystemExit(main())
