"""`lvsmon drain` and `lvsmon undrain`: take a real server out of a pool for a deploy."""

import os

import click

from lvsmon import ipvs as ipvs_source
from lvsmon import pool

_STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=lambda: os.environ.get("LVSMON_STATE_DIR", pool.DEFAULT_STATE_DIR),
    show_default=f"$LVSMON_STATE_DIR or {pool.DEFAULT_STATE_DIR}",
    help="Where the weights of drained real servers are kept between drain and undrain.",
)


def _target(service: str, real_server: str) -> pool.DrainTarget:
    key = ipvs_source.parse_service(service)
    address, port = ipvs_source.parse_real_server(real_server)
    return pool.DrainTarget(key, address, port)


@click.command()
@click.argument("service")
@click.argument("real_server")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    help="Seconds to wait for the active connections to end.",
)
@_STATE_DIR
def drain(service, real_server, timeout, state_dir):
    """Stop new connections to REAL_SERVER and wait until its connections end.

    Sets the real server's weight to 0 in SERVICE and waits until it has no
    active connections; exits 0 then. At the timeout it exits non-zero and
    says how many remain; the weight stays 0 either way until `lvsmon
    undrain`. The old weight is saved first in the state directory, so it
    survives a crash between the two commands.

    SERVICE is written as in ipvsadm: tcp:10.0.0.1:80, udp:..., sctp:...,
    fwm:7, or tcp:[2001:db8::1]:80. REAL_SERVER is 10.0.1.2:80 or
    [2001:db8::2]:80.

    Example: lvsmon drain tcp:10.0.0.1:80 10.0.1.2:80 --timeout 120
    """
    target = _target(service, real_server)
    last_report = [-10.0]

    def progress(rs, waited):
        if waited - last_report[0] >= 5:
            last_report[0] = waited
            click.echo(
                f"waiting: {rs.active_connections} active connection(s) on {target} "
                f"({waited:.0f} s)",
                err=True,
            )

    with ipvs_source.IpvsNetlink() as nl:
        pool.drain(nl, target, pool.DrainState(state_dir), timeout, on_wait=progress)
    click.echo(f"drained {target}: weight 0, no active connections")


@click.command()
@click.argument("service")
@click.argument("real_server")
@_STATE_DIR
def undrain(service, real_server, state_dir):
    """Give REAL_SERVER back the weight it had before `lvsmon drain`.

    SERVICE and REAL_SERVER are written as for drain.
    """
    target = _target(service, real_server)
    with ipvs_source.IpvsNetlink() as nl:
        weight = pool.undrain(nl, target, pool.DrainState(state_dir))
    click.echo(f"undrained {target}: weight {weight}")
