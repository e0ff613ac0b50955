"""`lvsmon vrrp status` and `lvsmon vrrp watch`: what the VRRP observer hears."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import click

from lvsmon.config import DEFAULT_STATUS_SOCKET
from lvsmon.model.codec import to_json
from lvsmon.model.vrrp import ObserverSnapshot, SegmentView
from lvsmon.vrrp.observer import Observer, observe_for
from lvsmon.vrrp.segment import Settings

WIDTH = 80
CLEAR = "\x1b[H\x1b[2J"
_FAMILY = {"inet": "v4", "inet6": "v6"}
_DEFAULTS = Settings()

_INTERFACES = click.option(
    "-i",
    "--interface",
    "interfaces",
    multiple=True,
    metavar="IFACE",
    help="Interface to listen on; repeat for several. Default: every interface that is up, "
    "except loopback.",
)
_FLAPPING = [
    click.option(
        "--flap-threshold",
        type=click.IntRange(min=1),
        default=_DEFAULTS.flap_threshold,
        show_default=True,
        help="Report flapping when the master changes more often than this ...",
    ),
    click.option(
        "--flap-window",
        type=click.FloatRange(min=1),
        default=_DEFAULTS.flap_window_seconds,
        show_default=True,
        help="... within this many seconds.",
    ),
]


def _flapping_options(function):
    for option in reversed(_FLAPPING):
        function = option(function)
    return function


@click.group()
def vrrp():
    """Watch VRRP on the wire: every router of every VRID, and what is wrong.

    lvsmon listens with raw sockets (IPv4 224.0.0.18 and IPv6 ff02::12, IP
    protocol 112), plus a packet socket for the adverts this host sends
    itself, and needs CAP_NET_RAW only. Since only the master of a VRID
    sends adverts, the master is the router that is advertising; backups
    show up once they have been master.

    Unicast VRRP (keepalived's unicast_peer) is only heard on the peers the
    adverts are sent to: run lvsmon there to see it.
    """


@vrrp.command()
@_INTERFACES
@click.option(
    "--duration",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Listen this long. Default: 3 x the longest advert interval heard, at least 3 s.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of segments).")
@click.option(
    "--daemon",
    "from_daemon",
    is_flag=True,
    help="Do not listen: ask the running daemon (`lvsmon run`) for its observer's views, "
    "which include everything heard since it started.",
)
@click.option(
    "--socket",
    "socket_path",
    default=DEFAULT_STATUS_SOCKET,
    show_default=True,
    metavar="PATH",
    help="The daemon's status socket (with --daemon).",
)
@_flapping_options
def status(interfaces, duration, as_json, from_daemon, socket_path, flap_threshold, flap_window):
    """Listen for a while, then print each VRID heard: master, routers, anomalies.

    One entry per interface, address family and VRID. Anomalies include
    split_brain, no_master, graceful_release, vrid_collision,
    interval_mismatch, auth_mismatch, vip_mismatch, version_mismatch,
    duplicate_owner, flapping, bad_ttl and bad_checksum. With --json, each
    entry has interface, family, vrid, master (address or null), routers
    (address, priority, advert_interval in seconds, auth_type, vips,
    last_seen as Unix time, ...), anomalies (the names active at the end)
    and anomaly_history (every detection with start and end).
    """
    if from_daemon:
        from lvsmon.cli.daemon_cmd import observer_snapshot_from_daemon

        snapshot = observer_snapshot_from_daemon(socket_path, timeout=5.0)
        if interfaces:
            wanted = [view for view in snapshot.segments if view.interface in interfaces]
            snapshot = dataclasses.replace(snapshot, segments=tuple(wanted))
    else:
        settings = Settings(flap_threshold=flap_threshold, flap_window_seconds=flap_window)
        snapshot = asyncio.run(observe_for(list(interfaces) or None, duration, settings))
    for warning in snapshot.warnings:
        click.echo(f"lvsmon: warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(to_json(snapshot.segments), indent=2))
        return
    click.echo(render_status(snapshot), nl=False)


@vrrp.command()
@_INTERFACES
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Redraw this often.",
)
@_flapping_options
def watch(interfaces, interval, flap_threshold, flap_window):
    """Show a live table of the VRIDs heard, redrawn every second; Ctrl-C stops.

    One line per VRID (interface, family, VRID, master, since when, master
    changes, anomalies), then one line per router heard (priority, advert
    interval, version and auth, VIPs, seconds since its last advert; a "*"
    marks routers advertising now). Fits 80 columns.
    """
    settings = Settings(flap_threshold=flap_threshold, flap_window_seconds=flap_window)
    try:
        asyncio.run(_watch(list(interfaces) or None, interval, settings))
    except KeyboardInterrupt:
        click.echo()


async def _watch(interfaces: list[str] | None, interval: float, settings: Settings) -> None:
    async with Observer(interfaces, settings) as observer:
        while True:
            snapshot = observer.snapshot()
            # color=True: keep the clear-screen sequence even when piped (like watch(1)).
            click.echo(CLEAR + render_watch(snapshot), nl=False, color=True)
            await asyncio.sleep(interval)


# -- rendering ----------------------------------------------------------------


def render_status(snapshot: ObserverSnapshot) -> str:
    if not snapshot.segments:
        names = ", ".join(snapshot.interfaces)
        return f"no VRRP advert heard on {names}\n"
    blocks = [_render_segment(view, snapshot.taken_at) for view in snapshot.segments]
    return "\n".join(blocks)


def _render_segment(view: SegmentView, now: float) -> str:
    name = f" ({view.keepalived_instance})" if view.keepalived_instance else ""
    lines = [
        f"{view.interface} {_FAMILY.get(view.family, view.family)} VRID {view.vrid}{name}: "
        f"master {view.master or 'none'}"
        + (f" since {_clock(view.master_since)}" if view.master and view.master_since else "")
        + f", {view.master_changes} master changes"
    ]
    if view.configured is not None:
        lines.append(configured_line(view))
    for router in view.routers:
        this = "  (this node)" if router.this_node else ""
        lines.append(
            f"  {'*' if router.advertising else ' '} {router.address}{this}  "
            f"priority {router.priority}"
            f"  interval {router.advert_interval_seconds:g} s  VRRPv{router.version}"
            + (f" auth {router.auth_type}" if router.auth_type else "")
            + f"  {router.adverts} advert{'' if router.adverts == 1 else 's'},"
            f" last {now - router.last_seen:.1f} s ago"
        )
        lines.append(f"      VIPs: {', '.join(router.vips) or '-'}")
    for anomaly in view.anomaly_history:
        span = f"since {_clock(anomaly.start)}"
        if not anomaly.active:
            span = f"{_clock(anomaly.start)} to {_clock(anomaly.end)}"
        lines.append(f"  ! {anomaly.name} ({span}): {anomaly.detail}")
    return "\n".join(lines) + "\n"


def configured_line(view: SegmentView) -> str:
    """What keepalived.conf says of the VRID, and this node's instance state."""
    wanted = view.configured
    vips = ", ".join(wanted.vips) or "-"
    return (f"  configured: keepalived instance {wanted.instance}, priority {wanted.priority}, "
            f"interval {wanted.advert_interval_seconds:g} s, VRRPv{wanted.version}, VIPs "
            f"{vips}; this node {view.own_state or 'not known yet'}")


def render_watch(snapshot: ObserverSnapshot) -> str:
    """The live table, every line cut to 80 columns."""
    now = snapshot.taken_at
    lines = [
        f"lvsmon vrrp watch  {', '.join(snapshot.interfaces)}  {_clock(now)}  (Ctrl-C stops)",
        f"{'IFACE':<9} {'FAM':<3} {'VRID':>4} {'MASTER':<25} {'SINCE':<8} {'CHG':>3} ANOMALIES",
    ]
    if not snapshot.segments:
        lines.append("(no VRRP advert heard yet)")
    for view in snapshot.segments:
        since = _clock(view.master_since) if view.master and view.master_since else "-"
        lines.append(
            f"{view.interface[:9]:<9} {_FAMILY.get(view.family, '?'):<3} {view.vrid:>4} "
            f"{(view.master or 'none')[:25]:<25} {since:<8} {view.master_changes:>3} "
            f"{','.join(view.anomaly_names) or '-'}"
        )
        for router in view.routers:
            auth = f"v{router.version}" + (f"/{router.auth_type}" if router.auth_type else "")
            lines.append(
                f" {'*' if router.advertising else ' '} {router.address[:25]:<25} "
                f"p{router.priority:<3} {router.advert_interval_seconds:>5g}s {auth:<9} "
                f"{now - router.last_seen:>5.1f}s {','.join(router.vips) or '-'}"
            )
    for warning in snapshot.warnings:
        lines.append(f"warning: {warning}")
    return "".join(_fit(line) + "\n" for line in lines)


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "~"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(seconds))


def _register_participate():
    from lvsmon.cli.vrrp_participate import participate

    vrrp.add_command(participate)


_register_participate()
