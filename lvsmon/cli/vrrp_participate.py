"""`lvsmon vrrp participate`: run VRRP routers from the config file in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal

import click

from lvsmon import config as config_module
from lvsmon.errors import UsageError
from lvsmon.model.codec import to_json
from lvsmon.vrrp.participant import Participant

STATE_SECONDS = 1.0


@click.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="TOML file with [[vrrp.instance]] tables (see lvsmon.config for every key).",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Write the participant's state as JSON here every second (replaced atomically): "
    "per instance its state, priority, master, track results and state-change events.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details too.")
def participate(config_path, state_file, verbose):
    """Be a VRRP router (RFC 5798) next to keepalived or other routers.

    Runs every [[vrrp.instance]] of FILE in the foreground: Backup / Master
    with skew time and Master_Down_Interval, preempt or nopreempt, preempt
    delay, priority 255 address owner; VRRPv3 (IPv4 and IPv6) and VRRPv2
    with auth_pass (keepalived's auth_type PASS); multicast or unicast peers.
    As master it adds the VIPs and sends gratuitous ARP / unsolicited
    neighbour advertisements; it removes them when it stops being master.
    With vmac = true (IPv4) the VIPs live on a macvlan vrrp.<VRID> with the
    RFC's virtual MAC 00:00:5e:00:01:<VRID>.

    Track commands (argv, no shell) lower the priority by their weight or
    force FAULT while they fail; one still running at its timeout is killed
    with its whole process group and counts as a failure. A notify command
    runs on every state change with the instance name, the new state and the
    priority as extra arguments.

    State changes are logged on stderr. SIGTERM or SIGINT stops cleanly:
    masters send a priority 0 advert (backups take over after their skew
    time) and the VIPs are removed. Needs CAP_NET_RAW and CAP_NET_ADMIN.

    \b
    A minimal FILE:
      [[vrrp.instance]]
      name = "web"
      interface = "eth0"
      vrid = 51
      priority = 150
      vips = ["10.0.0.100/24"]
      [[vrrp.instance.track]]
      command = ["/usr/bin/pgrep", "-x", "nginx"]
      timeout = 1.0
      weight = -60
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s lvsmon-vrrp: %(message)s",
    )
    loaded = config_module.load(config_path)
    if not loaded.vrrp_instances:
        raise UsageError(f"{config_path}: no [[vrrp.instance]] configured, nothing to do")
    asyncio.run(_participate(loaded.vrrp_instances, state_file))


async def _participate(instances, state_file: str | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Participant(instances) as participant:
        while not stop.is_set():
            if state_file:
                _write_state(participant, state_file)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATE_SECONDS)
        logging.getLogger(__name__).info("stopping: releasing mastership, removing addresses")
    if state_file:
        _write_state(participant, state_file)


def _write_state(participant: Participant, path: str) -> None:
    with open(path + ".tmp", "w") as handle:
        json.dump(to_json(participant.snapshot()), handle)
    os.replace(path + ".tmp", path)
