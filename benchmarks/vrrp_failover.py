"""Failover time: master killed -> backup's first advert, lvsmon participant vs keepalived.

Run as root from the repo root: `python -m benchmarks.vrrp_failover [--repetitions 5]`.
One lab, one segment: node a runs the master (keepalived, priority 200), node b the backup
(priority 100), alternately keepalived and `lvsmon vrrp participate`, and node obs
timestamps every advert it hears (this module with --listen, the lvsmon codec on a raw
socket). Per repetition: a becomes master, b starts and hears it, a is SIGKILLed right after
one of its adverts (no priority 0: a crash), and the time until b's first advert is taken
from obs's timestamps. The RFC bound is Master_Down_Interval = 3 x interval + skew(100).
All traffic stays inside the lab's namespaces.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
A4, B4, OBS4 = "10.32.0.11", "10.32.0.12", "10.32.0.30"
VRID, VIP = 70, "10.32.0.100/24"


def listen(output: str, ifname: str) -> None:
    """In obs: append "wall-time source priority" for every VRRP advert heard."""
    from lvsmon.vrrp import codec, sockets

    sock = sockets.open_ipv4(ifname)
    with open(output, "a", buffering=1) as out:
        while True:
            select.select([sock], [], [])
            while True:
                try:
                    data = sock.recv(65535)
                except BlockingIOError:
                    break
                now = time.time()
                try:
                    advert = codec.decode_ipv4_packet(data)
                except codec.VrrpDecodeError:
                    continue
                if advert.vrid == VRID:
                    out.write(f"{now:.6f} {advert.source} {advert.priority}\n")


def adverts(path: Path, since: float, source: str) -> list[float]:
    found = []
    for line in path.read_text().splitlines():
        stamp, address, priority = line.split()
        if address == source and float(stamp) >= since and priority != "0":
            found.append(float(stamp))
    return found


def one_failover(lab, a, b, log: Path, kind: str, index: int, interval: float) -> float:
    from tests.lab.keepalived import keepalived_conf, kill_hard, spawn_keepalived, vrrp_instance
    from tests.lab.vrrp_participant import participant_toml, spawn_participant

    started = time.time()
    master = spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance("VI", vrid=VRID, priority=200, advert_int=interval, vips=[VIP]),
    ]), name=f"ka-a-{index}")  # fmt: skip
    lab.wait_for(lambda: adverts(log, started, A4), 10, what="a master")
    if kind == "keepalived":
        backup = spawn_keepalived(lab, b, keepalived_conf("node-b", [
            vrrp_instance("VI", vrid=VRID, priority=100, advert_int=interval, vips=[VIP]),
        ]), name=f"ka-b-{index}")  # fmt: skip
    else:
        backup = spawn_participant(lab, b, participant_toml([{
            "name": "bench", "interface": "eth0", "vrid": VRID, "priority": 100,
            "advert_interval": interval, "vips": [VIP],
        }]), name=f"lvsmon-b-{index}")  # fmt: skip
    time.sleep(2 * interval + 0.5)  # b is up and has heard a few adverts
    assert not adverts(log, started, B4), f"{kind} advertised while a was master"
    # Kill right after one of a's adverts, so the death is as late in the interval as it gets.
    count = len(adverts(log, started, A4))
    lab.wait_for(lambda: len(adverts(log, started, A4)) > count, 3, what="an advert from a")
    killed = time.time()
    kill_hard(master)
    first = lab.wait_for(lambda: adverts(log, killed, B4), 10, what=f"{kind} takes over")[0]
    backup.stop()
    time.sleep(0.3)
    return first - killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0, help="advert interval (s)")
    parser.add_argument("--listen", nargs=2, metavar=("OUTPUT", "IFACE"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.listen:
        listen(*options.listen)
        return
    from lvsmon.model.vrrp import master_down_interval
    from tests.lab import Lab

    results: dict[str, list[float]] = {"keepalived": [], "lvsmon": []}
    with Lab() as lab:
        segment = lab.segment("vrrp")
        a, b, obs = lab.namespace("a"), lab.namespace("b"), lab.namespace("obs")
        segment.attach(a, f"{A4}/24")
        segment.attach(b, f"{B4}/24")
        segment.attach(obs, f"{OBS4}/24")
        log = lab.tmpdir / "adverts.txt"
        log.touch()
        obs.spawn([sys.executable, "-m", "benchmarks.vrrp_failover", "--listen", log, "eth0"],
                  name="listener", env={"PYTHONPATH": REPO})  # fmt: skip
        time.sleep(0.5)
        for index in range(options.repetitions):
            for kind in results:
                seconds = one_failover(lab, a, b, log, kind, index, options.interval)
                results[kind].append(seconds)
                print(f"run {index + 1} {kind:10s} {seconds:.3f} s", flush=True)
    bound = master_down_interval(options.interval, 100)
    print(f"\nadvert interval {options.interval:g} s, backup priority 100, "
          f"RFC bound 3 x interval + skew = {bound:.3f} s")  # fmt: skip
    for kind, values in results.items():
        mean = statistics.mean(values)
        print(f"{kind:10s} mean {mean:.3f} s  min {min(values):.3f}  max {max(values):.3f}  "
              f"mean/bound {mean / bound:.3f}")  # fmt: skip
    ratio = statistics.mean(results["lvsmon"]) / statistics.mean(results["keepalived"])
    print(f"lvsmon / keepalived failover time: {ratio:.3f}")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("run as root: the lab needs network namespaces")
    main()
