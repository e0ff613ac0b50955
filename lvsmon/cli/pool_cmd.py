"""`lvsmon drain` and `lvsmon undrain`: take a real server out of a pool for a deploy."""

from __future__ import annotations

import os
import time

import click

from lvsmon import config as config_module
from lvsmon import ipvs as ipvs_source
from lvsmon import pool
from lvsmon.config import DEFAULT_CONFIG_PATH, Config
from lvsmon.errors import KeepalivedConfigError, StatusSocketError
from lvsmon.model import KeepalivedConf

# How long drain waits for the daemon's guard to list a new drain (it looks every 0.2 s).
GUARD_CONFIRM_SECONDS = 10.0

_CONFIG = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="lvsmon.toml, for [daemon] state_dir and status_socket and [keepalived] config "
    f"and id [default: {DEFAULT_CONFIG_PATH} when it exists].",
)
_STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help="Where the weights of drained real servers are kept between drain and undrain "
    f"[default: [daemon] state_dir, else ${pool.STATE_DIR_ENV}, else {pool.DEFAULT_STATE_DIR}].",
)


def _target(service: str, real_server: str) -> pool.DrainTarget:
    key = ipvs_source.parse_service(service)
    address, port = ipvs_source.parse_real_server(real_server)
    return pool.DrainTarget(key, address, port)


def _settings(config_path: str | None) -> Config:
    """The daemon's configuration: drain, undrain and the daemon read the same file."""
    if config_path is None:
        if not os.path.exists(DEFAULT_CONFIG_PATH):
            return config_module.parse({}, "defaults")
        config_path = DEFAULT_CONFIG_PATH
    return config_module.load(config_path)


def _state(config: Config, state_dir: str | None) -> pool.DrainState:
    directory = state_dir or pool.resolve_state_dir(config.daemon.state_dir)
    return pool.DrainState(os.path.abspath(directory))  # compared with the daemon's


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
@_CONFIG
@_STATE_DIR
def drain(service, real_server, timeout, config_path, state_dir):
    """Stop new connections to REAL_SERVER and wait until its connections end.

    Sets the real server's weight to 0 in SERVICE and waits until it has no
    active connections; exits 0 then. At the timeout it exits non-zero and
    says how many remain; the weight stays 0 either way until `lvsmon
    undrain`. The old weight is saved first in the state directory, so it
    survives a crash between the two commands.

    keepalived writes its weight back when the server's health check fails
    and passes again (a deploy), and when it restarts: a `lvsmon run` with
    [keepalived] config on this node holds the drain at weight 0 until
    undrain. drain says whether that daemon holds it, and warns if not.

    SERVICE is written as in ipvsadm: tcp:10.0.0.1:80, udp:..., sctp:...,
    fwm:7, or tcp:[2001:db8::1]:80. REAL_SERVER is 10.0.1.2:80 or
    [2001:db8::2]:80.

    Example: lvsmon drain tcp:10.0.0.1:80 10.0.1.2:80 --timeout 120
    """
    target = _target(service, real_server)
    config = _settings(config_path)
    state = _state(config, state_dir)
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
        pool.begin_drain(nl, target, state)
        click.echo(_guard_report(config, state, target), err=True)
        pool.wait_drained(nl, target, timeout, on_wait=progress)
    click.echo(f"drained {target}: weight 0, no active connections")


def _keepalived_conf(config: Config) -> KeepalivedConf | None:
    """keepalived.conf as the daemon last read it (its keepalived source); the file itself
    when no daemon answers. None, with a warning, when neither can be had."""
    from lvsmon.status_client import ask_source

    try:
        source = ask_source(config.daemon.status_socket, "keepalived", timeout=5.0)
    except StatusSocketError:
        source = None
    if source is not None and source.snapshot is not None:
        return source.snapshot
    from lvsmon import keepalived

    try:
        return keepalived.read_config(config.keepalived.config, config.keepalived.id)
    except KeepalivedConfigError as exc:
        click.echo(f"lvsmon: warning: {exc}; the weight saved at drain is used", err=True)
        return None


def _guard_report(config: Config, state: pool.DrainState, target: pool.DrainTarget) -> str:
    """Whether the daemon's drain guard holds this drain: a line for the operator."""
    from lvsmon.status_client import ask_source

    socket_path = config.daemon.status_socket
    deadline = time.monotonic() + GUARD_CONFIRM_SECONDS
    while True:
        try:
            source = ask_source(socket_path, "drains", timeout=2.0)
        except StatusSocketError as exc:
            return (f"lvsmon: warning: {exc}: nothing holds this drain if keepalived writes the "
                    "weight back; run `lvsmon run` with [keepalived] config on this node")
        if not source.enabled:
            return ("lvsmon: warning: the lvsmon daemon does not guard drains (no [keepalived] "
                    "config in its configuration): keepalived may write the weight back")
        snapshot = source.snapshot
        if source.error is None and snapshot is not None:
            if snapshot.state_dir != str(state.directory):
                return (f"lvsmon: warning: the lvsmon daemon guards the drains in "
                        f"{snapshot.state_dir}, this one is in {state.directory}: give both "
                        "the same [daemon] state_dir")
            if snapshot.held(str(target.service), target.real_server) is not None:
                return ("held by the lvsmon daemon: weight 0 until `lvsmon undrain`, "
                        "whatever keepalived writes")
        if time.monotonic() >= deadline:
            why = source.error or "it has not listed this drain yet"
            return f"lvsmon: warning: the lvsmon daemon's drain guard: {why}"
        time.sleep(0.2)


@click.command()
@click.argument("service")
@click.argument("real_server")
@_CONFIG
@_STATE_DIR
def undrain(service, real_server, config_path, state_dir):
    """Give REAL_SERVER back to keepalived at its configured weight.

    With [keepalived] config set, the weight is the one keepalived.conf
    gives the real server (what keepalived itself would write), as the
    running daemon read the file (the file itself when no daemon answers);
    otherwise, or when the file does not configure it, the weight it had
    before `lvsmon drain`. The drain's entry is removed first, so the daemon's drain guard
    lets go of it. A real server keepalived has taken out of IPVS (its check
    fails) is given back all the same: keepalived adds it when the check
    passes. SERVICE and REAL_SERVER are written as for drain.
    """
    target = _target(service, real_server)
    config = _settings(config_path)
    configured = None
    if config.keepalived.config is not None:
        conf = _keepalived_conf(config)
        if conf is not None:
            configured = pool.configured_real_server(conf, target)
    with ipvs_source.IpvsNetlink() as nl:
        done = pool.undrain(nl, target, _state(config, state_dir), configured)
    origin = (f"keepalived.conf, {done.configured.where}" if done.configured is not None
              else "saved at drain")  # fmt: skip
    if done.in_table:
        click.echo(f"undrained {target}: weight {done.weight} ({origin})")
    else:
        click.echo(f"undrained {target}: not in IPVS now (its health check fails); keepalived "
                   f"adds it at weight {done.weight} ({origin}) when the check passes")
