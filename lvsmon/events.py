"""State changes of the daemon, logged once each (NOTICE, or WARNING when something broke).

    events = StateChangeLogger()
    store.subscribe(events.changed)     # called after every publish, on the loop

Compares each published DaemonState with the one before and logs, one line each:

- a VRRP master change on a segment: interface, family, VRID, old -> new master, its priority;
- a VRRP anomaly starting and ending: name, interface, family, VRID, routers, detail;
- a participant instance's transition: name, interface, VRID, old -> new state, reason,
  priority (each transition, also when several happened between two publishes);
- this node's keepalived instance changing state as the wire shows it (SegmentView.own_state);
- a difference between keepalived.conf and the IPVS table appearing, and going (its detail);
- a source (observer, participant, IPVS, ...) going down with its reason, and back, after
  how long.

It runs twice a second or more, so it compares by identity and keys first and formats
only what changed.
"""

from __future__ import annotations

import logging

from lvsmon.logs import NOTICE
from lvsmon.model.daemon import SOURCES, DaemonState, SourceState
from lvsmon.model.drift import Finding, KeepalivedDiff
from lvsmon.model.vrrp import (
    FAULT,
    OWN_FAULT,
    Anomaly,
    InstanceSnapshot,
    ObserverSnapshot,
    ParticipantSnapshot,
    SegmentView,
)

# How the lines name each source (a DaemonState field, lvsmon.model.daemon.SOURCES).
SOURCE_LABELS = {"vrrp": "VRRP observer", "participant": "VRRP participant", "ipvs": "IPVS",
                 "snat": "SNAT recorder", "keepalived": "keepalived configuration",
                 "keepalived_diff": "keepalived drift", "drains": "drain guard"}  # fmt: skip


class StateChangeLogger:
    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger or logging.getLogger("lvsmon.events")
        self.previous: DaemonState | None = None
        self._segments: dict[tuple, SegmentView] = {}  # of the last observer snapshot
        self._instances: dict[str, InstanceSnapshot] = {}  # of the last participant snapshot
        self._findings: set[Finding] | None = None  # of the last keepalived diff

    def changed(self, state: DaemonState) -> None:
        previous, self.previous = self.previous, state
        for name in SOURCES:
            new: SourceState = getattr(state, name)
            old: SourceState | None = None if previous is None else getattr(previous, name)
            if new is old:
                continue
            self._source(name, old, new)
            if old is not None and new.snapshot is old.snapshot:
                continue
            if name == "vrrp":
                self._observer(new.snapshot)
            elif name == "participant":
                self._participant(new.snapshot)
            elif name == "keepalived_diff":
                self._drift(new.snapshot)

    # -- sources ---------------------------------------------------------------

    def _source(self, name: str, old: SourceState | None, new: SourceState) -> None:
        old_error = None if old is None else old.error
        if new.error == old_error:
            return
        label = SOURCE_LABELS.get(name, name)
        if new.error is None:
            since = old.error_since if old is not None else None
            if since is not None and new.last_success is not None:
                self.log.log(NOTICE, "%s back after %s", label,
                             _duration(new.last_success - since))  # fmt: skip
            else:
                self.log.log(NOTICE, "%s back", label)
        elif old_error is None:
            self.log.warning("%s down: %s", label, new.error)
        else:
            self.log.warning("%s still down, now: %s", label, new.error)

    # -- the observer ----------------------------------------------------------

    def _observer(self, snapshot: ObserverSnapshot | None) -> None:
        before = self._segments
        self._segments = {} if snapshot is None else {v.key: v for v in snapshot.segments}
        for key, view in self._segments.items():
            old = before.get(key)
            if old is view:
                continue
            self._master(old, view)
            self._own_state(old, view)
            if old is None or old.anomaly_history != view.anomaly_history:
                self._anomalies(old, view)

    def _master(self, old: SegmentView | None, view: SegmentView) -> None:
        old_master = None if old is None else old.master
        if view.master == old_master:
            if old is None or view.master is None or view.master_changes == old.master_changes:
                return
            # Changed and changed back between two publishes.
            self.log.log(NOTICE, "%s: master %s again after %d changes (priority %s)",
                         _segment(view), view.master, view.master_changes - old.master_changes,
                         _priority(view))  # fmt: skip
        elif view.master is None:
            self.log.warning("%s: master %s -> none", _segment(view), old_master)
        else:
            self.log.log(NOTICE, "%s: master %s -> %s (priority %s)", _segment(view),
                         old_master or "none", view.master, _priority(view))  # fmt: skip

    def _own_state(self, old: SegmentView | None, view: SegmentView) -> None:
        before = None if old is None else old.own_state
        if view.own_state == before or view.own_state is None:
            return
        level = logging.WARNING if view.own_state == OWN_FAULT else NOTICE
        self.log.log(level, "keepalived instance %s (this node, %s): %s -> %s",
                     view.keepalived_instance, _segment(view), before or "unknown",
                     view.own_state)  # fmt: skip

    def _anomalies(self, old: SegmentView | None, view: SegmentView) -> None:
        before = {} if old is None else {_anomaly_key(a): a for a in old.anomaly_history}
        now = {_anomaly_key(a): a for a in view.anomaly_history}
        for key, anomaly in now.items():
            known = before.get(key)
            if known is None:
                self._anomaly_started(view, anomaly)
            if not anomaly.active and (known is None or known.active):
                self._anomaly_ended(view, anomaly)
        for key, anomaly in before.items():
            if anomaly.active and key not in now:  # dropped from the history while active
                self._anomaly_ended(view, anomaly)

    def _anomaly_started(self, view: SegmentView, anomaly: Anomaly) -> None:
        self.log.warning("%s: anomaly %s started: routers %s: %s", _segment(view), anomaly.name,
                         ", ".join(anomaly.routers) or "-", anomaly.detail)  # fmt: skip

    def _anomaly_ended(self, view: SegmentView, anomaly: Anomaly) -> None:
        lasted = "" if anomaly.end is None else f" after {_duration(anomaly.end - anomaly.start)}"
        self.log.log(NOTICE, "%s: anomaly %s ended%s: routers %s: %s", _segment(view),
                     anomaly.name, lasted, ", ".join(anomaly.routers) or "-",
                     anomaly.detail)  # fmt: skip

    # -- the participant -------------------------------------------------------

    def _participant(self, snapshot: ParticipantSnapshot | None) -> None:
        before = self._instances
        self._instances = {} if snapshot is None else {i.name: i for i in snapshot.instances}
        for name, instance in self._instances.items():
            old = before.get(name)
            # A restarted participant counts from 0 again: everything it reports is new.
            seen = 0 if old is None or instance.transitions < old.transitions else old.transitions
            new_count = instance.transitions - seen
            if new_count <= 0:
                continue
            for event in instance.events[-new_count:]:
                level = logging.WARNING if event.new == FAULT else NOTICE
                self.log.log(level, "VRRP instance %s (%s %s VRID %d): %s -> %s (%s), "
                             "priority %d", instance.name, instance.interface, instance.family,
                             instance.vrid, event.old, event.new, event.reason,
                             event.priority)  # fmt: skip


    # -- keepalived.conf against IPVS ----------------------------------------------

    def _drift(self, diff: KeepalivedDiff | None) -> None:
        if diff is None:
            return
        findings = set(diff.findings)
        before, self._findings = self._findings, findings
        for finding in sorted(findings - (before or set()), key=_finding_key):
            self.log.warning("keepalived drift %s: %s", finding.kind, finding.detail)
        for finding in sorted((before or set()) - findings, key=_finding_key):
            self.log.log(NOTICE, "keepalived drift %s over: %s", finding.kind, finding.detail)


def _finding_key(finding: Finding) -> tuple:
    return (finding.service, finding.real_server or "", finding.kind)


def _priority(view: SegmentView) -> int | str:
    router = view.router(view.master)
    return "?" if router is None else router.priority


def _anomaly_key(anomaly: Anomaly) -> tuple:
    return (anomaly.name, anomaly.start, anomaly.routers)


def _segment(view: SegmentView) -> str:
    return f"VRRP {view.interface} {view.family} VRID {view.vrid}"


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {seconds}s"
    return f"{minutes}m {seconds}s"
