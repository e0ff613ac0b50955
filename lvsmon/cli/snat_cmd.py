"""`lvsmon snat ...`: run the SNAT audit logger, and ask its store who was behind a port."""

from __future__ import annotations

import json
import logging

import click

from lvsmon.cli.plugins import PluginGroup
from lvsmon.model.codec import to_json
from lvsmon.model.snat import SnatStatus, iso_utc
from lvsmon.snat import query
from lvsmon.snat.config import (
    DEFAULT_STATUS_FILE,
    DEFAULT_STORE,
    load_config,
    store_path_for,
)
from lvsmon.snat.record import to_json_dict
from lvsmon.snat.status import read_status
from lvsmon.snat.store_sqlite import SqliteStore


@click.group(cls=PluginGroup)
def snat():
    """Source-NAT connection history: who was behind a translated address and port.

    `lvsmon snat run` records every source-NATed connection conntrack sees in
    this network namespace (SQLite, JSON lines, syslog). `who`, `log` and
    `status` read what it stored. Times are UTC.
    """


_CONFIG = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                       help="TOML file with a [snat] table (see deploy/snat.toml).")
_STORE = click.option("--store", type=click.Path(dir_okay=False),
                      help=f"SQLite store [default: the config's, else $LVSMON_SNAT_STORE, "
                           f"else {DEFAULT_STORE}].")
_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


@snat.command()
@_CONFIG
@_STORE
@click.option("--jsonl", type=click.Path(dir_okay=False),
              help="Also append JSON lines here (reopened on SIGHUP, for logrotate).")
@click.option("--syslog", type=click.Path(dir_okay=False),
              help="Also send RFC 5424 messages to this local syslog socket, e.g. /dev/log.")
@click.option("--node", help="Name of this machine in the records [default: hostname].")
@click.option("--status-file", type=click.Path(dir_okay=False),
              help=f"Where the running service writes its status [default: {DEFAULT_STATUS_FILE}].")
@click.option("--receive-buffer-bytes", type=click.IntRange(min=4096),
              help="Kernel buffer of the event socket; too small means lost events.")
@click.option("--reliable/--no-reliable", "reliable_delivery", default=None,
              help="NETLINK_BROADCAST_ERROR: the kernel re-sends missed DESTROY events.")
@click.option("--no-destinations", "no_destinations", is_flag=True,
              help="Do not record destinations (RFC 6888 privacy).")
@click.option("--no-accounting", "no_accounting", is_flag=True,
              help="Leave nf_conntrack_acct and nf_conntrack_timestamp as they are.")
@click.option("--retention-days", type=click.FloatRange(min=0),
              help="Delete records that ended longer ago than this (0: keep all).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def run(config_path, store, jsonl, syslog, node, status_file, receive_buffer_bytes,
        reliable_delivery, no_destinations, no_accounting, retention_days, verbose):
    """Record source-NATed connections until stopped (SIGTERM, Ctrl-C).

    Listens to conntrack NEW and DESTROY events in this network namespace and
    dumps the table at start and after every event overflow. Needs
    CAP_NET_ADMIN. Turns on nf_conntrack_acct and nf_conntrack_timestamp
    unless told not to, and logs that it did. SIGHUP reopens the JSON-lines
    file. Lost events are counted in the store, the status file and the log.

    \b
    Example:
      lvsmon snat run --store /var/lib/lvsmon/snat.sqlite --jsonl /var/log/lvsmon/snat.jsonl
    """
    from lvsmon.snat.service import SnatService

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(config_path).with_options(
        store=store, jsonl=jsonl, syslog=syslog, node=node, status_file=status_file,
        receive_buffer_bytes=receive_buffer_bytes, reliable_delivery=reliable_delivery,
        record_destinations=False if no_destinations else None,
        enable_conntrack_accounting=False if no_accounting else None,
        retention_days=retention_days)
    SnatService(config).run()


def _emit(records, as_json: bool, empty: str) -> None:
    if not records:
        if as_json:
            return
        click.echo(empty)
        return
    for record in records:
        if as_json:
            click.echo(json.dumps(to_json_dict(record), separators=(",", ":")))
        else:
            click.echo(query.format_record(record))


@snat.command()
@click.option("--translated", required=True, metavar="IP:PORT",
              help="The translated source the far side saw, e.g. 10.0.0.5:40001.")
@click.option("--at", "at", required=True, metavar="TIME", help=query.TIME_HELP + ".")
@click.option("--dest", metavar="IP[:PORT]",
              help="Only connections to this real destination (e.g. the real server).")
@click.option("--protocol", metavar="NAME",
              help="Only connections of this protocol: tcp, udp, sctp ... or its number. "
                   "TCP and UDP each have their own ports, so one translated port can "
                   "carry one connection of each at once.")
@click.option("--slack", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds either side of TIME that still count (log times are coarse).")
@_CONFIG
@_STORE
@_JSON
def who(translated, at, dest, protocol, slack, config_path, store, as_json):
    """Which inside client(s) used a translated address and port at a time.

    Records whose translated source was IP:PORT at TIME (within --slack), open
    ones included. Records marked "end lost" ended at or before the end shown.

    \b
    Example (a real server logged 10.0.0.5:40001 at 10:03:12 UTC):
      lvsmon snat who --translated 10.0.0.5:40001 --at '2026-11-24 10:03:12' --dest 10.0.1.12:80
    """
    address, port = query.parse_endpoint(translated, port_required=True)
    at_ns = query.parse_time(at)
    destination = query.parse_endpoint(dest) if dest else None
    protocol = query.parse_protocol(protocol) if protocol is not None else None
    db = SqliteStore(store_path_for(config_path, store), readonly=True)
    try:
        records = db.who(address, port, at_ns, int(slack * 1e9), destination, protocol)
    finally:
        db.close()
    what = f"{protocol} connection" if protocol else "connection"
    where = f" towards {dest}" if dest else ""
    _emit(records, as_json, f"no {what} used {translated}{where} at {iso_utc(at_ns)} "
                            f"(+-{slack:g} s)")


@snat.command(name="log")
@click.option("--inside", metavar="IP", help="Only connections from this inside address.")
@click.option("--since", metavar="TIME", help="Connections still open at or after TIME. "
                                               + query.TIME_HELP + ".")
@click.option("--until", metavar="TIME", help="Connections that started at or before TIME.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many records.")
@_CONFIG
@_STORE
@_JSON
def log_(inside, since, until, limit, config_path, store, as_json):
    """List recorded connections, oldest first.

    \b
    Example:
      lvsmon snat log --inside 192.168.1.20 --since '1 hour ago'
    """
    inside_address = query.parse_endpoint(inside)[0] if inside else None
    since_ns = query.parse_time(since) if since else None
    until_ns = query.parse_time(until) if until else None
    db = SqliteStore(store_path_for(config_path, store), readonly=True)
    try:
        records = db.log(inside_address, since_ns, until_ns, limit)
    finally:
        db.close()
    _emit(records, as_json, "no connections recorded for that selection")


@snat.command()
@click.option("--status-file", type=click.Path(dir_okay=False),
              help=f"Status written by `lvsmon snat run` [default: {DEFAULT_STATUS_FILE}].")
@_CONFIG
@_STORE
@_JSON
def status(status_file, config_path, store, as_json):
    """Whether the recorder runs, its event rate, records stored and events lost.

    Exits 0 when it runs, 1 when not (a stale or missing status file).
    """
    config = load_config(config_path)
    reading = read_status(status_file or config.status_file, store,
                          default_store=store_path_for(config_path, None))
    if as_json:
        click.echo(json.dumps(to_json(reading), sort_keys=True))
    else:
        click.echo(render_status(reading), nl=False)
    if not reading.running:
        raise click.exceptions.Exit(1)


def render_status(reading: SnatStatus) -> str:
    recorder = reading.recorder
    state = "running" if reading.running else "NOT running"
    lines = [f"lvsmon snat: {state}"
             + (f" (pid {recorder.pid}, node {recorder.node})" if recorder else "")]
    if reading.problem:
        lines.append(f"  {reading.problem}")
    if not reading.running and recorder is not None:
        how = "stopped cleanly" if recorder.stopped else "last seen alive"
        lines.append(f"  {how} at {iso_utc(recorder.updated_ns)}")
    if recorder is not None:
        lines.append(f"  events per second: {recorder.events_per_second}")
        lines.append(f"  lost events: {recorder.lost_events} (in {recorder.overflows} socket "
                     f"overflow(s)), connections whose end was lost: {recorder.end_unknown}, "
                     f"records dropped: {recorder.store_dropped}")
        for name, sink in recorder.sinks.items():
            health = "ok" if sink.ok else f"FAILING: {sink.error}"
            lines.append(f"  sink {name}: {health}, {sink.written_records} written, "
                         f"{sink.pending_records} pending")
    store = reading.store
    if store is not None:
        lines.append(f"  records stored: {store.records} ({store.open_records} open), "
                     f"oldest: {iso_utc(store.oldest_start_ns) or 'none'}")
        if store.lost_by_kind:
            losses = ", ".join(f"{k} {v}" for k, v in sorted(store.lost_by_kind.items()))
            lines.append(f"  losses recorded in the store: {losses}")
    if reading.store_problem:
        lines.append(f"  store: {reading.store_problem}")
    return "\n".join(lines) + "\n"
