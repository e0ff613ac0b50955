"""Prometheus metrics of the SNAT audit logger, rendered from its status snapshot.

A custom collector: each scrape reads the status file `lvsmon snat run` rewrites every
second and its store's summary (lvsmon.snat.status) and builds fresh metric families; no
global state. `lvsmon snat exporter` serves it from its own process, so a slow scrape never
slows recording.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lvsmon.snat.status import SnatStatus, read_status

PREFIX = "lvsmon_snat_"

# (status file key, metric name without _total, help): counters since the recorder started
RECORDER_COUNTERS = (
    ("events", "events_received", "Conntrack events read from the event socket."),
    ("snat_events", "snat_events", "Events of source-NATed connections (the ones recorded)."),
    ("store_dropped", "records_dropped", "Records dropped because no sink could take them "
                                         "in time (the audit trail lacks them)."),
    ("end_unknown", "connection_ends_lost", "Connections whose end was not seen (their "
                                            "DESTROY event was lost); closed by a re-dump."),
    ("decode_errors", "decode_errors", "Netlink messages that could not be decoded."),
)


class SnatCollector(Collector):
    """Reads the recorder's status on every scrape and renders it."""

    def __init__(self, status_file: str, store: str | None = None,
                 default_store: str | None = None):
        self.status_file = status_file
        self.store = store  # None: the store the recorder says it writes, else default_store
        self.default_store = default_store

    def collect(self) -> Iterator[Metric]:
        yield from render(read_status(self.status_file, self.store, self.default_store))


def render(status: SnatStatus) -> Iterator[Metric]:
    """Metric families for one status snapshot. A recorder that does not run exports
    only `up` 0 (its last counters are not current) and what its store holds."""
    yield _gauge("up", "1 when the SNAT recorder runs (status file fresh, process alive).",
                 int(status.running))
    if status.running:
        yield from _recorder(status)
    yield _gauge("store_up", "1 when the SNAT store could be read.", int(status.store is not None))
    if status.store is not None:
        yield from _store(status)


def _recorder(status: SnatStatus) -> Iterator[Metric]:
    recorder = status.recorder
    yield _gauge("start_time_seconds", "When the recorder started, seconds since the epoch.",
                 recorder.get("started_ns", 0) / 1e9)
    yield _counter("events_lost", "Conntrack events lost: dropped by the kernel because the "
                                  "event socket's receive buffer was full.", status.lost_events)
    yield _counter("overflows", "Event socket overflows (ENOBUFS), each followed by a re-dump.",
                   status.count("overflows"))
    yield _counter("redumps", "Conntrack table dumps after an overflow (not the one at start).",
                   max(status.count("dumps") - 1, 0))
    for key, name, text in RECORDER_COUNTERS:
        yield _counter(name, text, status.count(key))
    yield _gauge("receive_buffer_bytes", "Kernel receive buffer of the event socket.",
                 recorder.get("receive_buffer_bytes") or 0)
    sinks = recorder.get("sinks") or {}
    up = GaugeMetricFamily(PREFIX + "sink_up", "1 while the sink writes; 0 while it fails "
                                               "(records are held and retried).",
                           labels=["sink"])
    written = CounterMetricFamily(PREFIX + "sink_records_written", "Records written to the "
                                                                  "sink.", labels=["sink"])
    pending = GaugeMetricFamily(PREFIX + "sink_pending_records", "Records waiting for the sink.",
                                labels=["sink"])
    for name, sink in sorted(sinks.items()):
        up.add_metric([name], int(bool(sink.get("ok"))))
        written.add_metric([name], sink.get("written_records") or 0)
        pending.add_metric([name], sink.get("pending_records") or 0)
    yield from (up, written, pending)


def _store(status: SnatStatus) -> Iterator[Metric]:
    summary = status.store
    yield _gauge("records_stored", "Connection records in the SQLite store.", summary.records)
    yield _gauge("open_records", "Records of connections still open.", summary.open_records)
    if summary.oldest_start_ns is not None:
        yield _gauge("oldest_record_timestamp_seconds", "Start of the oldest stored record, "
                     "seconds since the epoch.", summary.oldest_start_ns / 1e9)
    losses = GaugeMetricFamily(PREFIX + "store_losses", "Losses the store keeps on record (all "
                               "runs; pruned with old records), by kind.", labels=["kind"])
    for kind, count in sorted(summary.lost_by_kind.items()):
        losses.add_metric([kind], count)
    yield losses


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, text, value=value)


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, text, value=value)


def registry_for(status_file: str, store: str | None = None,
                 default_store: str | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnatCollector(status_file, store, default_store))
    return registry


def serve(address: str, port: int, status_file: str, store: str | None = None,
          default_store: str | None = None):
    """Serve /metrics on address:port from a background thread; returns (server, thread)."""
    return start_http_server(port, addr=address,
                             registry=registry_for(status_file, store, default_store))
