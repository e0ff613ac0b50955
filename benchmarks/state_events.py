"""What logging state changes (lvsmon.events) costs the daemon's loop, per publish.

Run from the repo root: `python -m benchmarks.state_events [--segments N] [--publishes N]`.
N segments, each with a master and a backup that once had a split brain (so every view has
routers and an anomaly history), are snapshotted the way the daemon does twice a second.
Prints, per publish of an observer snapshot that changed nothing worth a log line:

- the reference: taking that snapshot (Segment.snapshot of every segment), which the daemon
  pays on every publish anyway;
- StateStore.publish with the StateChangeLogger subscribed, and the ratio to the reference;
- a publish of another source (IPVS) with the logger subscribed: the observer's views are
  not looked at, so it stays near the bare publish.
"""

from __future__ import annotations

import argparse
import logging
import time

from lvsmon.events import StateChangeLogger
from lvsmon.model import Advert
from lvsmon.model.daemon import SourceState
from lvsmon.model.vrrp import ObserverSnapshot
from lvsmon.state import StateStore
from lvsmon.vrrp.segment import Segment


def advert(vrid: int, source: str, priority: int) -> Advert:
    return Advert(version=3, vrid=vrid, priority=priority, addresses=(f"10.9.{vrid}.1",),
                  family="inet", advert_interval_centiseconds=100, source=source,
                  destination="224.0.0.18", ttl=255, checksum=0, checksum_form="v3")  # fmt: skip


def segments(count: int) -> list[Segment]:
    made = []
    for number in range(count):
        vrid = number % 255 + 1
        segment = Segment(f"eth{number // 255}", "inet", vrid)
        master, backup = f"10.1.{number % 250}.1", f"10.1.{number % 250}.2"
        now = 0.0
        for _ in range(10):  # both advertise for a while: a split brain, then it ends
            segment.advert(advert(vrid, master, 150), now)
            segment.advert(advert(vrid, backup, 100), now)
            now += 1.0
        for _ in range(10):
            segment.advert(advert(vrid, master, 150), now)
            now += 1.0
        made.append(segment)
    return made


def best_of(function, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--publishes", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("lvsmon.events").disabled = True  # measure the comparing, not output
    views = segments(args.segments)
    now = 20.5
    snapshots = [ObserverSnapshot(now, ("eth0",), tuple(s.snapshot(now) for s in views))
                 for _ in range(args.publishes)]  # fmt: skip
    assert all(view.anomaly_history for view in snapshots[0].segments)

    def take_snapshots():
        for _ in range(args.publishes):
            tuple(segment.snapshot(now) for segment in views)

    store = StateStore()
    store.subscribe(StateChangeLogger().changed)
    store.publish(vrrp=SourceState(enabled=True).succeeded(snapshots[0], now))

    def publish_observer():
        for snapshot in snapshots:
            store.publish(vrrp=store.current.vrrp.succeeded(snapshot, now))

    def publish_other():
        for _ in range(args.publishes):
            store.publish(ipvs=SourceState(enabled=True))

    bare = StateStore()

    def publish_bare():
        for snapshot in snapshots:
            bare.publish(vrrp=SourceState(enabled=True).succeeded(snapshot, now))

    reference = best_of(take_snapshots, 5) / args.publishes
    logged = best_of(publish_observer, 5) / args.publishes
    other = best_of(publish_other, 5) / args.publishes
    plain = best_of(publish_bare, 5) / args.publishes
    print(f"{args.segments} segments, {args.publishes} publishes, best of 5, per publish:")
    print(f"  reference: observer snapshot          {reference * 1e6:9.1f} us")
    print(f"  publish, logger subscribed            {logged * 1e6:9.1f} us  "
          f"ratio {logged / reference:.3f} of the snapshot")  # fmt: skip
    print(f"  publish, no subscriber                {plain * 1e6:9.1f} us")
    print(f"  publish of IPVS, logger subscribed    {other * 1e6:9.1f} us")


if __name__ == "__main__":
    main()
