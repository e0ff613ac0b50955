"""Prometheus metric families of `lvsmon run`, built from one published DaemonState.

A custom collector (prometheus_client's style): nothing is registered or poked by the
sources; each rendering reads one immutable snapshot and builds fresh families. Names are
all under ``lvsmon_``, in base units, ``_total`` for counters, ``_info`` for label sets.
A value a source cannot know (procfs has no per-service counters) is left out, never 0.

Label spellings: ``service`` as `lvsmon drain` writes it (tcp:10.0.0.1:80, fwm:7,
tcp:[2001:db8::1]:443), ``real_server`` as ipvsadm writes it (10.0.1.2:80,
[2001:db8::2]:80), ``family`` inet / inet6, VRRP states in lower case,
``keepalived_instance`` a vrrp_instance name of this node's keepalived.conf. The VRRP series
of a VRID heard and of its routers get the name by a join with lvsmon_vrrp_view_info (on
interface, family, vrid) rather than a label of their own: renaming an instance in the file
then starts no new series.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from lvsmon import __version__
from lvsmon.model import IpvsTable
from lvsmon.model.daemon import DaemonState, SourceState
from lvsmon.model.drain import DrainGuardSnapshot
from lvsmon.model.drift import DRIFT_KINDS, KeepalivedDiff
from lvsmon.model.keepalived import KeepalivedConf
from lvsmon.model.vrrp import (
    ANOMALY_NAMES,
    CONFIG_ANOMALIES,
    OWN_STATES,
    STATES,
    ObserverSnapshot,
    ParticipantSnapshot,
)
from lvsmon_exporter.exposition import LazyFamily

SOURCE_NAMES = ("vrrp", "participant", "ipvs", "snat", "keepalived", "keepalived_diff",
                "drains")
# (model field, metric name part, help): the IPVS counters of services and real servers
IPVS_COUNTERS = (
    ("connections", "connections", "Connections scheduled"),
    ("packets_in", "incoming_packets", "Packets received"),
    ("packets_out", "outgoing_packets", "Packets sent"),
    ("bytes_in", "incoming_bytes", "Bytes received"),
    ("bytes_out", "outgoing_bytes", "Bytes sent"),
)
VIEW_LABELS = ["interface", "family", "vrid"]
ROUTER_LABELS = [*VIEW_LABELS, "router"]
# Not "instance": Prometheus sets that label on every target (it would become
# "exported_instance"); keepalived exporters say "iname", lvsmon says what it is.
INSTANCE_LABELS = ["vrrp_instance", "interface", "vrid"]
# The config_* anomalies exist only where keepalived.conf configures the VRID.
UNCONFIGURED_ANOMALIES = tuple(name for name in ANOMALY_NAMES if name not in CONFIG_ANOMALIES)


def families(state: DaemonState, now: float) -> Iterator[Metric]:
    """Every family of one state: health first, then each source's own."""
    yield from small_families(state, now)
    if state.ipvs.snapshot is not None:
        yield from ipvs_families(state.ipvs.snapshot)
    if state.keepalived_diff.snapshot is not None:
        yield from drift_families(state.keepalived_diff.snapshot)


def small_families(state: DaemonState, now: float) -> Iterator[Metric]:
    """All but the IPVS table's and the drift's (which the exporter renders once per read)."""
    yield from health_families(state, now)
    yield from frontend_families(state)
    if state.vrrp.snapshot is not None:
        yield from observer_families(state.vrrp.snapshot)
    if state.participant.snapshot is not None:
        yield from participant_families(state.participant.snapshot)
    if state.keepalived.snapshot is not None:
        yield from keepalived_families(state.keepalived.snapshot, state.vrrp.snapshot)
    if state.drains.snapshot is not None:
        yield from drain_families(state.drains.snapshot)


# -- health ------------------------------------------------------------------------------


def health_families(state: DaemonState, now: float) -> Iterator[Metric]:
    build = InfoMetricFamily("lvsmon_build", "lvsmon's version and the Python running it.")
    build.add_metric([], {"version": __version__, "python": platform.python_version()})
    yield build
    yield GaugeMetricFamily("lvsmon_start_time_seconds", "When the daemon started, seconds since "
                            "the epoch.", value=state.daemon.started_at)  # fmt: skip
    up = GaugeMetricFamily("lvsmon_source_up", "1 when the source's last attempt worked; 0 when "
                           "it failed (see lvsmon status for why).", labels=["source"])  # fmt: skip
    success = GaugeMetricFamily(
        "lvsmon_source_last_success_timestamp_seconds",
        "When the source last worked, seconds since the epoch.", labels=["source"])
    age = GaugeMetricFamily(
        "lvsmon_source_last_success_age_seconds",
        "Seconds since the source last worked (at this scrape).", labels=["source"])
    failures = CounterMetricFamily(
        "lvsmon_source_failures", "Failed attempts of the source since the daemon started.",
        labels=["source"])
    for name in SOURCE_NAMES:
        source: SourceState = getattr(state, name)
        if not source.enabled:
            continue
        up.add_metric([name], 1 if source.available else 0)
        failures.add_metric([name], source.failures)
        if source.last_success is not None:
            success.add_metric([name], source.last_success)
            age.add_metric([name], max(0.0, now - source.last_success))
    yield from (up, success, age, failures)


# -- the frontends (the exporter itself, the AgentX subagent) ------------------------------

# FrontendState counter groups of the AgentX frontend -> (metric, label, help)
AGENTX_COUNTER_GROUPS = {
    "pdus_answered": ("lvsmon_agentx_requests", "request", "Requests of the master agent "
                      "answered, by AgentX PDU type."),
    "bad_pdus": ("lvsmon_agentx_bad_pdus", "reason", "PDUs from the master agent refused, by "
                 "reason (each ends the session, which is opened again)."),
    "session_ends": ("lvsmon_agentx_session_ends", "kind", "AgentX sessions ended, by why."),
    "notifications_failed": ("lvsmon_agentx_notifications_failed", "reason",
                             "Notifications snmpd did not take, by reason (not_connected: "
                             "no session was open)."),
    "notifications_raised": ("lvsmon_agentx_notifications_raised", "notification",
                             "Notifications lvsmon raised, by NOTIFICATION-TYPE."),
}  # fmt: skip
AGENTX_COUNTERS = {
    "reconnects": ("lvsmon_agentx_reconnects", "Sessions opened again after one was lost."),
    "connect_attempts": ("lvsmon_agentx_connect_attempts", "Connections tried to the master."),
    "notifications_sent": ("lvsmon_agentx_notifications_sent", "Notifications snmpd took."),
    "index_builds": ("lvsmon_agentx_index_builds", "OID index rebuilds from a published "
                     "state."),
    "index_builds_deferred": ("lvsmon_agentx_index_builds_deferred", "Index rebuilds held "
                              "back (at most 1 s) until the master's walk was over."),
}  # fmt: skip


def frontend_families(state: DaemonState) -> Iterator[Metric]:
    """Each frontend up or not; for AgentX its session, its subtrees and its counters, so a
    metric says which subtrees lvsmon serves and which another subagent holds."""
    up = GaugeMetricFamily("lvsmon_frontend_up", "1 when the frontend runs (the exporter "
                           "listens, the AgentX subagent is on), 0 when it is off.",
                           labels=["frontend"])  # fmt: skip
    for name, frontend in sorted(state.frontends.items()):
        up.add_metric([name], 1 if frontend.running else 0)
    yield up
    agentx = state.frontends.get("agentx")
    if agentx is None or not agentx.running:
        return
    yield GaugeMetricFamily("lvsmon_agentx_connected", "1 while an AgentX session with the "
                            "master agent (snmpd) is open and registered.",
                            value=1 if agentx.connected else 0)  # fmt: skip
    served = GaugeMetricFamily(
        "lvsmon_agentx_subtree_served", "1 for a subtree lvsmon serves through snmpd, 0 for one "
        "the master refused (another subagent, e.g. keepalived's, holds it).",
        labels=["subtree"])  # fmt: skip
    for subtree in agentx.served:
        served.add_metric([subtree], 1)
    for entry in agentx.refused:
        served.add_metric([entry.split(" ")[0]], 0)
    yield served
    counters = agentx.counters
    groups = {group: CounterMetricFamily(metric, text, labels=[label])
              for group, (metric, label, text) in AGENTX_COUNTER_GROUPS.items()}  # fmt: skip
    for key, count in sorted(counters.items()):
        group, dot, label = key.partition(".")
        if dot and group in groups:
            groups[group].add_metric([label], count)
    yield from groups.values()
    for key, (metric, text) in AGENTX_COUNTERS.items():
        if key in counters:
            yield CounterMetricFamily(metric, text, value=counters[key])
    if "index_size" in counters:
        yield GaugeMetricFamily("lvsmon_agentx_index_values", "Values (OIDs) lvsmon serves.",
                                value=counters["index_size"])
    if "slowest_answer_microseconds" in counters:
        yield GaugeMetricFamily("lvsmon_agentx_slowest_answer_seconds", "The longest lvsmon "
                                "took to answer one request of the master since it started.",
                                value=counters["slowest_answer_microseconds"] / 1e6)


# -- the VRRP observer ---------------------------------------------------------------------


def observer_families(snapshot: ObserverSnapshot) -> Iterator[Metric]:
    masters = GaugeMetricFamily(
        "lvsmon_vrrp_masters", "Routers advertising as master now: 1 is healthy, 0 no master, "
        "2 or more split brain.", labels=VIEW_LABELS)  # fmt: skip
    changes = CounterMetricFamily(
        "lvsmon_vrrp_master_changes", "Times the master of the VRID changed since the daemon "
        "started.", labels=VIEW_LABELS)  # fmt: skip
    anomaly = GaugeMetricFamily(
        "lvsmon_vrrp_anomaly", "1 while the anomaly is active on the VRID, else 0 (one series per "
        "known anomaly).", labels=[*VIEW_LABELS, "anomaly"])  # fmt: skip
    routers = GaugeMetricFamily("lvsmon_vrrp_routers", "Routers heard on the VRID.",
                                labels=VIEW_LABELS)
    priority = GaugeMetricFamily("lvsmon_vrrp_router_priority", "Priority in the router's last "
                                 "advert (0: it is giving up mastership).",
                                 labels=ROUTER_LABELS)  # fmt: skip
    interval = GaugeMetricFamily("lvsmon_vrrp_router_advert_interval_seconds",
                                 "Advert interval in the router's last advert.",
                                 labels=ROUTER_LABELS)
    adverts = CounterMetricFamily("lvsmon_vrrp_router_adverts", "Adverts heard from the router.",
                                  labels=ROUTER_LABELS)
    last = GaugeMetricFamily("lvsmon_vrrp_router_last_advert_timestamp_seconds",
                             "When the router's last advert was heard, seconds since the epoch.",
                             labels=ROUTER_LABELS)
    master = GaugeMetricFamily("lvsmon_vrrp_router_master", "1 while the router advertises as "
                               "master (it sent a non-zero priority within its Master_Down_"
                               "Interval), else 0.", labels=ROUTER_LABELS)  # fmt: skip
    info = InfoMetricFamily("lvsmon_vrrp_router", "What the router's last advert says.",
                            labels=ROUTER_LABELS)
    for view in snapshot.segments:
        key = [view.interface, view.family, str(view.vrid)]
        masters.add_metric(key, len(view.masters))
        changes.add_metric(key, view.master_changes)
        routers.add_metric(key, len(view.routers))
        active = set(view.anomaly_names)
        for name in ANOMALY_NAMES if view.configured is not None else UNCONFIGURED_ANOMALIES:
            anomaly.add_metric([*key, name], 1 if name in active else 0)
        for router in view.routers:
            labels = [*key, router.address]
            priority.add_metric(labels, router.priority)
            interval.add_metric(labels, router.advert_interval_seconds)
            adverts.add_metric(labels, router.adverts)
            last.add_metric(labels, router.last_seen)
            master.add_metric(labels, 1 if router.advertising else 0)
            info.add_metric(labels, {
                "version": str(router.version), "auth_type": router.auth_type or "",
                "vips": ",".join(router.vips), "checksum_form": router.checksum_form or "",
            })  # fmt: skip
    yield from (masters, changes, anomaly, routers, priority, interval, adverts, last, master,
                info)  # fmt: skip
    decoded = CounterMetricFamily("lvsmon_vrrp_adverts_decoded", "VRRP packets decoded.",
                                  labels=["interface"])
    rejected = CounterMetricFamily(
        "lvsmon_vrrp_packets_rejected", "Packets on the VRRP sockets that could not be read as "
        "adverts, by reason.", labels=["interface", "reason"])  # fmt: skip
    for interface, counts in sorted(snapshot.decode_counts.items()):
        decoded.add_metric([interface], counts.decoded)
        for reason, count in sorted(counts.rejected.items()):
            rejected.add_metric([interface, reason], count)
    yield from (decoded, rejected)


# -- the VRRP participant ---------------------------------------------------------------


def participant_families(snapshot: ParticipantSnapshot) -> Iterator[Metric]:
    state = GaugeMetricFamily("lvsmon_vrrp_instance_state", "1 for the instance's current state "
                              "(init, backup, master, fault), else 0.",
                              labels=[*INSTANCE_LABELS, "state"])  # fmt: skip
    priority = GaugeMetricFamily("lvsmon_vrrp_instance_priority", "Effective priority (the base "
                                 "priority plus track weights).", labels=INSTANCE_LABELS)
    base = GaugeMetricFamily("lvsmon_vrrp_instance_base_priority", "Configured priority.",
                             labels=INSTANCE_LABELS)
    transitions = CounterMetricFamily("lvsmon_vrrp_instance_transitions", "State changes since "
                                      "the instance started.", labels=INSTANCE_LABELS)
    sent = CounterMetricFamily("lvsmon_vrrp_instance_adverts_sent", "Adverts sent.",
                               labels=INSTANCE_LABELS)
    received = CounterMetricFamily("lvsmon_vrrp_instance_adverts_received", "Adverts accepted "
                                   "from other routers of the VRID.", labels=INSTANCE_LABELS)
    dropped = CounterMetricFamily("lvsmon_vrrp_instance_adverts_dropped", "Adverts not accepted, "
                                  "by reason (RFC 5798 7.1).", labels=[*INSTANCE_LABELS, "reason"])
    track = GaugeMetricFamily("lvsmon_vrrp_instance_track_up", "1 while the track command "
                              "succeeds, 0 while it fails.", labels=[*INSTANCE_LABELS, "track"])
    for instance in snapshot.instances:
        key = [instance.name, instance.interface, str(instance.vrid)]
        for name in STATES:
            state.add_metric([*key, _STATE_LABELS[name]], 1 if instance.state == name else 0)
        priority.add_metric(key, instance.priority)
        base.add_metric(key, instance.base_priority)
        transitions.add_metric(key, instance.transitions)
        sent.add_metric(key, instance.adverts_sent)
        received.add_metric(key, instance.adverts_received)
        for reason, count in sorted(instance.dropped.items()):
            dropped.add_metric([*key, reason], count)
        for status in instance.tracks:
            if status.ok is not None:
                track.add_metric([*key, status.name], 1 if status.ok else 0)
    yield from (state, priority, base, transitions, sent, received, dropped, track)


_STATE_LABELS = {"INITIALIZE": "init", "BACKUP": "backup", "MASTER": "master", "FAULT": "fault"}


# -- keepalived.conf: names, this node's instances, and drift from the IPVS table -----------


def keepalived_families(conf: KeepalivedConf,
                        observed: ObserverSnapshot | None) -> Iterator[Metric]:
    info = InfoMetricFamily("lvsmon_keepalived_config", "The keepalived.conf the daemon reads.",
                            labels=[])
    info.add_metric([], {"config": conf.source, "config_id": conf.config_id,
                         "router_id": conf.router_id or ""})
    yield info
    instance = InfoMetricFamily("lvsmon_keepalived_instance", "A vrrp_instance of this node's "
                                "keepalived.conf.", labels=["keepalived_instance"])
    priority = GaugeMetricFamily("lvsmon_keepalived_instance_configured_priority",
                                 "The instance's priority in keepalived.conf.",
                                 labels=["keepalived_instance"])
    for item in conf.vrrp_instances:
        instance.add_metric([item.name], {
            "interface": item.interface or "", "family": item.family, "vrid": str(item.vrid),
            "version": str(item.version), "vips": ",".join(item.vip_addresses),
        })  # fmt: skip
        priority.add_metric([item.name], item.priority)
    yield from (instance, priority)
    if observed is None:
        return
    view_info = InfoMetricFamily("lvsmon_vrrp_view", "The keepalived instance a VRID heard "
                                 "belongs to (join on interface, family, vrid).",
                                 labels=[*VIEW_LABELS, "keepalived_instance"])
    state = GaugeMetricFamily("lvsmon_keepalived_instance_state", "1 for the state of this "
                              "node's keepalived instance as the wire shows it (master, backup, "
                              "fault), else 0; all 0 while not known yet.",
                              labels=["keepalived_instance", "state"])  # fmt: skip
    states: dict[str, str | None] = {}  # one per instance (unicast ones match any interface)
    for view in observed.segments:
        name = view.keepalived_instance
        if name is None:
            continue
        view_info.add_metric([view.interface, view.family, str(view.vrid), name], {})
        if states.get(name) is None:
            states[name] = view.own_state
    for name, known in states.items():
        for own in OWN_STATES:
            state.add_metric([name, own], 1 if known == own else 0)
    yield from (view_info, state)


def drift_families(diff: KeepalivedDiff) -> Iterator[Metric]:
    sorry = GaugeMetricFamily("lvsmon_keepalived_sorry_server_active", "1 while the service's "
                              "sorry server has weight (its quorum is lost), else 0.",
                              labels=["service", "sorry_server"])  # fmt: skip
    configured = GaugeMetricFamily("lvsmon_keepalived_real_server_configured_weight",
                                   "A real server's weight in keepalived.conf (join with "
                                   "lvsmon_ipvs_real_server_weight).",
                                   labels=["service", "real_server"])  # fmt: skip
    drift = GaugeMetricFamily("lvsmon_keepalived_drift", "1 for each way the IPVS table "
                              "differs from keepalived.conf now (real_server empty when the "
                              "whole service is meant).", labels=["service", "real_server",
                                                                   "kind"])  # fmt: skip
    counts = GaugeMetricFamily("lvsmon_keepalived_drift_findings", "How many ways the IPVS "
                               "table differs from keepalived.conf now, by kind.",
                               labels=["kind"])  # fmt: skip
    for service in diff.services:
        if service.sorry_server is not None:
            sorry.add_metric([service.service, service.sorry_server],
                             1 if service.sorry_serving else 0)
        for rs in service.real_servers:
            if rs.configured_weight is not None:
                configured.add_metric([service.service, rs.real_server], rs.configured_weight)
    findings = diff.findings
    for finding in findings:
        drift.add_metric([finding.service, finding.real_server or "", finding.kind], 1)
    for kind in DRIFT_KINDS:
        counts.add_metric([kind], sum(1 for finding in findings if finding.kind == kind))
    yield from (sorry, configured, drift, counts)


# -- the drain guard -------------------------------------------------------------------


def drain_families(guard: DrainGuardSnapshot) -> Iterator[Metric]:
    """The drains `lvsmon run` holds at weight 0, and how often keepalived undid each."""
    held = GaugeMetricFamily("lvsmon_drain_held", "1 for each real server `lvsmon drain` "
                             "drained that the daemon holds at weight 0 until `lvsmon "
                             "undrain`.", labels=["service", "real_server"])  # fmt: skip
    saved = GaugeMetricFamily("lvsmon_drain_saved_weight", "The weight a drained real server "
                              "had when drained.", labels=["service", "real_server"])
    reasserted = CounterMetricFamily("lvsmon_drain_reassertions", "Times the daemon set a "
                                     "drained real server's weight back to 0 after keepalived "
                                     "wrote its own (since the daemon started).",
                                     labels=["service", "real_server"])  # fmt: skip
    total = CounterMetricFamily("lvsmon_drain_guard_reassertions", "Weight-0 writes of the "
                                "drain guard since the daemon started, all drains.",
                                value=guard.reasserted_total)  # fmt: skip
    problems = GaugeMetricFamily("lvsmon_drain_state_problems", "Entries of drained.json the "
                                 "guard cannot read (left alone; see lvsmon status).",
                                 value=len(guard.problems))  # fmt: skip
    for drain in guard.drains:
        labels = [drain.service, drain.real_server]
        held.add_metric(labels, 1)
        saved.add_metric(labels, drain.saved_weight)
        reasserted.add_metric(labels, drain.reasserted)
    yield from (held, saved, reasserted, total, problems)


# -- IPVS ------------------------------------------------------------------------------
# A table of 10,000 real servers makes some 110,000 samples: they are made while the family
# is rendered (LazyFamily) so that they die young instead of keeping the garbage collector
# busy, holding the GIL, while the daemon's loop waits (benchmarks/exporter_loop.py).


def ipvs_families(table: IpvsTable) -> Iterator[Metric]:
    services = table.services

    def per_service(name: str, kind: str, text: str, value) -> LazyFamily:
        sample = _sample_name(name, kind)
        return LazyFamily(name, text, kind, lambda: (
            Sample(sample, {"service": svc.name}, v, None)
            for svc in services if (v := value(svc)) is not None))  # fmt: skip

    def per_server(name: str, kind: str, text: str, value) -> LazyFamily:
        sample = _sample_name(name, kind)
        return LazyFamily(name, text, kind, lambda: (
            Sample(sample, {"service": svc.name, "real_server": rs.endpoint}, v, None)
            for svc in services for rs in svc.real_servers
            if (v := value(rs)) is not None))  # fmt: skip

    def service_info(svc) -> dict[str, str]:
        return {
            "service": svc.name, "scheduler": svc.scheduler, "protocol": svc.protocol,
            "address": svc.address or "", "port": _text(svc.port), "fwmark": _text(svc.fwmark),
            "family": svc.key.family or "", "persistence": _text(svc.persistence_timeout_seconds),
            "flags": ",".join(svc.flags),
        }  # fmt: skip

    yield LazyFamily("lvsmon_ipvs_service", "A virtual service and its settings.", "info",
                     lambda: (Sample("lvsmon_ipvs_service_info", service_info(svc), 1, None)
                              for svc in services))  # fmt: skip
    yield per_service("lvsmon_ipvs_service_real_servers", "gauge",
                      "Real servers of the service.", lambda svc: len(svc.real_servers))
    yield per_service("lvsmon_ipvs_service_real_servers_available", "gauge",
                      "Real servers of the service with weight > 0.",
                      lambda svc: sum(1 for rs in svc.real_servers if rs.weight > 0))
    for field, part, text in IPVS_COUNTERS:
        yield per_service(f"lvsmon_ipvs_service_{part}", "counter",
                          f"{text} by the service.", _stat(field))
    yield LazyFamily("lvsmon_ipvs_real_server", "A real server's forwarding method.", "info",
                     lambda: (Sample("lvsmon_ipvs_real_server_info",
                                     {"service": svc.name, "real_server": rs.endpoint,
                                      "forward": rs.forward}, 1, None)
                              for svc in services for rs in svc.real_servers))  # fmt: skip
    yield per_server("lvsmon_ipvs_real_server_weight", "gauge",
                     "Weight (0: no new connections).", lambda rs: rs.weight)
    yield per_server("lvsmon_ipvs_real_server_active_connections", "gauge",
                     "Active connections.", lambda rs: rs.active_connections)
    yield per_server("lvsmon_ipvs_real_server_inactive_connections", "gauge",
                     "Inactive connections.", lambda rs: rs.inactive_connections)
    for field, part, text in IPVS_COUNTERS:
        yield per_server(f"lvsmon_ipvs_real_server_{part}", "counter",
                         f"{text} by the real server.", _stat(field))
    for field, part, text in IPVS_COUNTERS:
        value = getattr(table.stats, field)
        if value is not None:  # procfs cannot know it: absent, never 0
            yield CounterMetricFamily(f"lvsmon_ipvs_{part}", f"{text} by IPVS in all.",
                                      value=value)


def _sample_name(name: str, kind: str) -> str:
    return name + "_total" if kind == "counter" else name


def _stat(field: str):
    return lambda item: getattr(item.stats, field)


def _text(value) -> str:
    return "" if value is None else str(value)
