"""Rendering speed of lvsmon_exporter.exposition against prometheus_client, same families.

Run from the repo root: `python -m benchmarks.exposition [--services 1000 --reals 10]`.
Builds the synthetic IPVS table of benchmarks.exporter_table (1,000 services x 10 real
servers: about 108,000 samples, 11 MB of text), checks that both renderers give identical
bytes, then prints the best-of time of each and the speed-up, for the text format 0.0.4 and
OpenMetrics 1.0.0: prometheus_client's generate_latest (the reference), ours cold (a fresh
label cache) and ours warm (the label cache of the previous render, as the daemon keeps it).
Last, a whole scrape's work: building the families from the table and rendering them, as
ordinary families and as LazyFamily (samples made while rendering).
"""

from __future__ import annotations

import argparse
import time

from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from benchmarks.exporter_table import families, lazy_families, sample_count, snapshot
from lvsmon_exporter.exposition import LabelCache, render


class _Families:
    def __init__(self, metric_families):
        self.metric_families = metric_families

    def collect(self):
        return self.metric_families


def best(function, repeat: int) -> float:
    fastest = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--reals", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="timings per case (best kept)")
    args = parser.parse_args()
    table = snapshot(args.services, args.reals)
    build = best(lambda: families(table=table), args.repeat)
    metric_families = families(table=table)
    print(f"{args.services} services x {args.reals} real servers: "
          f"{sample_count(metric_families):,} samples in {len(metric_families)} families; "
          f"building the families takes {build:.3f} s")
    print(f"{'format':<12} {'prometheus_client':>17} {'ours cold':>10} {'ours warm':>10} "
          f"{'speed-up cold':>13} {'warm':>6} {'bytes':>11}")
    for name, openmetrics, reference in (("text 0.0.4", False, generate_latest),
                                         ("OpenMetrics", True, openmetrics_latest)):
        expected = reference(_Families(metric_families))
        cache = LabelCache()
        identical = render(metric_families, openmetrics) == expected == render(
            metric_families, openmetrics, cache)
        if not identical:
            raise SystemExit(f"{name}: output differs from prometheus_client's")
        theirs = best(lambda ref=reference: ref(_Families(metric_families)), args.repeat)
        cold = best(lambda om=openmetrics: render(metric_families, om), args.repeat)
        warm = best(lambda om=openmetrics, c=cache: render(metric_families, om, c), args.repeat)
        print(f"{name:<12} {theirs:>16.3f}s {cold:>9.3f}s {warm:>9.3f}s "
              f"{theirs / cold:>12.1f}x {theirs / warm:>5.1f}x {len(expected):>11,}")
    print("identical bytes: yes (both formats)")
    cache = LabelCache()
    eager = best(lambda: render(families(table=table), True, cache), args.repeat)
    lazy = best(lambda: render(lazy_families(table), True, cache), args.repeat)
    if render(lazy_families(table), True) != render(metric_families, True):
        raise SystemExit("LazyFamily output differs")
    print(f"build families + render OpenMetrics (warm): eager {eager:.3f}s, "
          f"LazyFamily {lazy:.3f}s ({eager / lazy:.1f}x)")


if __name__ == "__main__":
    main()
