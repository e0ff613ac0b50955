"""Prometheus metrics of the SNAT audit logger, rendered from its status snapshot.

A custom collector: each scrape reads the status file `lvsmon snat run` rewrites every
second and its store's summary (lvsmon.snat.status) and builds fresh metric families; no
global state. `lvsmon snat exporter` serves it from its own process, so a slow scrape never
slows recording.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import click
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lvsmon.errors import SnatError
from lvsmon.model.snat import SnatStatus
from lvsmon.snat.config import DEFAULT_STATUS_FILE, DEFAULT_STORE, load_config, store_path_for
from lvsmon.snat.query import parse_endpoint
from lvsmon.snat.status import read_status

PREFIX = "lvsmon_snat_"

# (RecorderStatus field, metric name without _total, help): counters since the recorder started
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
                 recorder.started_ns / 1e9)
    yield _counter("events_lost", "Conntrack events lost: dropped by the kernel because the "
                                  "event socket's receive buffer was full.", recorder.lost_events)
    yield _counter("overflows", "Event socket overflows (ENOBUFS), each followed by a re-dump.",
                   recorder.overflows)
    yield _counter("redumps", "Conntrack table dumps after an overflow (not the one at start).",
                   recorder.redumps)
    for key, name, text in RECORDER_COUNTERS:
        yield _counter(name, text, getattr(recorder, key))
    yield _gauge("receive_buffer_bytes", "Kernel receive buffer of the event socket.",
                 recorder.receive_buffer_bytes or 0)
    sinks = recorder.sinks
    up = GaugeMetricFamily(PREFIX + "sink_up", "1 while the sink writes; 0 while it fails "
                                               "(records are held and retried).",
                           labels=["sink"])
    written = CounterMetricFamily(PREFIX + "sink_records_written", "Records written to the "
                                                                  "sink.", labels=["sink"])
    pending = GaugeMetricFamily(PREFIX + "sink_pending_records", "Records waiting for the sink.",
                                labels=["sink"])
    for name, sink in sorted(sinks.items()):
        up.add_metric([name], int(sink.ok))
        written.add_metric([name], sink.written_records)
        pending.add_metric([name], sink.pending_records)
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


# -- `lvsmon snat exporter` (offered to the lvsmon CLI through the lvsmon.commands entry point)


@click.command(name="exporter")
@click.option("--listen", default="127.0.0.1:10574", show_default=True, metavar="IP:PORT",
              help="Address and port to serve /metrics on ([::1]:10574 for IPv6).")
@click.option("--status-file", type=click.Path(dir_okay=False),
              help=f"Status written by `lvsmon snat run` [default: {DEFAULT_STATUS_FILE}].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML file with a [snat] table (see deploy/snat.toml).")
@click.option("--store", type=click.Path(dir_okay=False),
              help=f"SQLite store [default: the one the recorder writes, else the config's, "
                   f"else $LVSMON_SNAT_STORE, else {DEFAULT_STORE}].")
def exporter_command(listen, status_file, config_path, store):
    """Serve Prometheus metrics of the SNAT recorder until stopped.

    Each scrape reads the recorder's status file and store: lvsmon_snat_up,
    events received, lost (and overflows, re-dumps), records stored, the
    oldest record. A process of its own: a slow scrape never slows recording.

    \b
    Example:
      lvsmon snat exporter --listen 127.0.0.1:10574
    """
    address, port = parse_endpoint(listen, port_required=True)
    config = load_config(config_path)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    try:
        server, thread = serve(address, port, status_file or config.status_file, store,
                               default_store=store_path_for(config_path, None))
    except OSError as exc:
        raise SnatError(f"cannot listen on {listen}: {exc.strerror}") from exc
    click.echo(f"lvsmon snat exporter: serving http://{listen}/metrics", err=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join(5)
