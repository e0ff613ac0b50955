"""How long a drained real server can take new connections after keepalived restores it.

Runs in the qemu guest (a real IPVS kernel), from the repo root:

    python -m tests.vm.qemu --timeout 900 -- .venv/bin/python -m benchmarks.drain_hold

The director of tests/vm/guest/topology.py, with keepalived's checker managing
tcp:10.100.0.8:80 (TCP_CHECK on rs1 and rs3) and `lvsmon run` beside it ([keepalived]
config, [ipvs] interval 1 s). rs1 is drained with `lvsmon drain`, then keepalived
restores its weight again and again: its service stopped and started (the check fails
and passes) and keepalived restarted. Meanwhile:

- a watcher in the director reads rs1's weight over netlink as fast as it can and
  notes each change; the exposure of one event is from the read that first shows
  keepalived's weight to the first that shows 0 again (at most one watcher read early);
- a client opens new TCP connections through the VIP at a steady rate; the drained
  server answering any of them is a connection the drain let through.

Printed: per kind of event, the exposures (min / median / max, in ms) and the worst
as a fraction of the IPVS read interval (the reference: what the daemon's own table read
would take to even notice), the watcher's read period (the resolution), and the
connections rs1 answered out of all sent. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

IPVS_INTERVAL = 1.0  # the daemon's [ipvs] interval in this run (keepalived_drain's lvsmon.toml)
RATE = 20.0  # new connections per second from the client


def watch(service: str, real_server: str) -> None:
    """The watcher (in the director's namespace): "<monotonic> <weight or ->" per change."""
    from lvsmon.errors import NotFound
    from lvsmon.ipvs import IpvsNetlink, parse_real_server, parse_service

    key = parse_service(service)
    address, port = parse_real_server(real_server)
    last = object()
    reads, started = 0, time.monotonic()
    with IpvsNetlink() as nl:
        while True:
            try:
                found = [rs.weight for rs in nl.read_real_servers(key)
                         if (rs.address, rs.port) == (address, port)]  # fmt: skip
            except NotFound:
                found = []
            reads += 1
            time.sleep(0.005)  # leave the guest's CPUs to keepalived and the daemon
            weight = found[0] if found else None
            if weight != last:
                now = time.monotonic()
                print(f"{now:.6f} {'-' if weight is None else weight} "
                      f"{(now - started) / reads:.6f}", flush=True)
                last = weight


def client(host: str, port: int, seconds: float, rate: float) -> None:
    """New TCP connections at `rate` for `seconds` (in the client's namespace); prints
    {"answering host": count, "failed": count}. Refused or timed-out ones are counted:
    while keepalived restarts there is no virtual server."""
    import signal
    import socket

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped early: still print
    seen: dict[str, int] = {}
    start, sent = time.monotonic(), 0
    try:
        while (now := time.monotonic()) < start + seconds:
            time.sleep(max(0.0, start + sent / rate - now))
            sent += 1
            try:
                with socket.create_connection((host, port), timeout=2) as sock:
                    sock.sendall(b"GET\n")
                    name = sock.makefile("rb").readline().decode().strip() or "failed"
            except OSError:
                name = "failed"
            seen[name] = seen.get(name, 0) + 1
    finally:
        print(json.dumps(seen), flush=True)


def exposures(log: str, since: float) -> tuple[list[float], float]:
    """Seconds at a weight other than 0 (keepalived's) after `since`; the read period."""
    spans, opened, period = [], None, 0.0
    for line in log.splitlines():
        parts = line.split()
        try:
            at, weight, period = float(parts[0]), parts[1], float(parts[2])
        except (IndexError, ValueError):
            continue  # not a watcher line
        if at < since:
            continue
        positive = weight not in ("-", "0")
        if positive and opened is None:
            opened = at
        elif not positive and opened is not None:
            spans.append(at - opened)
            opened = None
    return spans, period


def run(repetitions: int) -> None:
    from tests.vm.guest.keepalived_drain import (
        ENV,
        SERVICE,
        VIP,
        VPORT,
        KeepalivedDirector,
        endpoint,
        prepare,
        start_real_server,
        stop_real_server,
    )
    from tests.vm.guest.topology import ipvs_topology

    target = endpoint("rs1")
    with ipvs_topology(traffic=False) as topo:
        prepare(topo)
        director = KeepalivedDirector(topo, topo.director, "bench")
        director.start_keepalived()
        director.start_daemon()
        done = director.lvsmon("drain", SERVICE, target, "--timeout", "30")
        assert done.returncode == 0, done.stderr
        watcher = topo.director.spawn(
            [sys.executable, "-m", "benchmarks.drain_hold", "--watch", SERVICE, target],
            name="weight-watcher", env=ENV)
        topo.lab.wait_for(lambda: watcher.log().strip(), 60, what="the watcher's first read")

        def flap() -> None:
            stop_real_server(topo, "rs1")
            topo.lab.wait_for(lambda: target not in director.weights(), 60,
                              what="keepalived removing rs1")
            start_real_server(topo, "rs1")

        def restart() -> None:
            director.stop_keepalived()
            director.start_keepalived()

        results = {}
        for kind, event in (("check fails and passes", flap), ("keepalived restart", restart)):
            since = time.monotonic()
            seconds = 3600.0  # until stopped after the last event
            traffic = topo.client.spawn(
                [sys.executable, "-m", "benchmarks.drain_hold", "--client", VIP, str(VPORT),
                 str(seconds), str(RATE)], name="bench-client", env=ENV)
            for done_events in range(1, repetitions + 1):
                event()
                # Seen by the watcher (not `lvsmon status`: a CLI start costs seconds here).
                topo.lab.wait_for(
                    lambda n=done_events, s=since: len(exposures(watcher.log(), s)[0]) >= n, 120,
                    what="keepalived's weight and the guard's 0 after it", interval=0.5)
                time.sleep(1.0)  # traffic at weight 0 between two events
            traffic.stop(timeout=30)
            answered = json.loads(traffic.log().strip().splitlines()[-1])
            spans, period = exposures(watcher.log(), since)
            results[kind] = (spans, period, answered)
        watcher.stop()
        guard = director.guard()
        director.lvsmon("undrain", SERVICE, target)

    print(f"drain hold: rs1 drained, {repetitions} events of each kind, "
          f"traffic {RATE:g} new connections/s, IPVS read interval {IPVS_INTERVAL:g} s, "
          f"guard look every {guard.interval_seconds:g} s; "
          f"{guard.reasserted_total} re-assertions in all")
    for kind, (spans, period, answered) in results.items():
        failed = answered.pop("failed", 0)
        total = sum(answered.values())
        if spans:
            ms = sorted(s * 1000 for s in spans)
            line = (f"{len(spans)} exposures min {ms[0]:.0f} ms, median "
                    f"{statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms = "
                    f"{ms[-1] / 1000 / IPVS_INTERVAL:.2f} x the IPVS read interval")
        else:
            line = "no exposure seen"
        print(f"  {kind}: {line}; watcher read every {period * 1000:.1f} ms; "
              f"rs1 answered {answered.get('rs1', 0)} of {total} new connections "
              f"({failed} more found no virtual server)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--client", nargs=4, metavar=("HOST", "PORT", "SECONDS", "RATE"),
                        help=argparse.SUPPRESS)  # the client process
    parser.add_argument("--watch", nargs=2, metavar=("SERVICE", "REAL_SERVER"),
                        help=argparse.SUPPRESS)  # the watcher process
    args = parser.parse_args()
    if args.watch:
        watch(*args.watch)
    elif args.client:
        host, port, seconds, rate = args.client
        client(host, int(port), float(seconds), float(rate))
    else:
        run(args.repetitions)


if __name__ == "__main__":
    main()
