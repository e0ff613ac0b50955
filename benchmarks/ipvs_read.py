"""Time one full read of a 1,000 services x 10 real servers IPVS table.

Runs where the kernel has IPVS (the qemu guest: `make bench`), from the repo root
as `python -m benchmarks.ipvs_read`. Builds the
table with `ipvsadm -R` in a namespace of its own, then times lvsmon's
netlink and procfs readers against `ipvsadm -Ln --stats --exact` (the C tool,
the reference) in the same run, and prints reads per second, the ratio to the
reference and the peak Python memory of one read. The netlink reader is timed
twice: as it runs (real servers in the kernel's layout read in one unpack each)
and with every message walked attribute by attribute, the fallback.
"""

import argparse
import gc
import subprocess
import sys
import time
import tracemalloc

from tests.lab import Lab


def build_rules(services: int, per_service: int) -> str:
    lines = []
    for s in range(services):
        vip = f"10.100.{s // 250}.{s % 250 + 1}"
        lines.append(f"-A -t {vip}:80 -s wrr")
        for r in range(per_service):
            rip = f"10.200.{s // 25}.{(s % 25) * 10 + r + 1}"
            lines.append(f"-a -t {vip}:80 -r {rip}:8080 -m -w {r + 1}")
    return "\n".join(lines) + "\n"


def timed(fn, repeat: int) -> float:
    """Best-of wall time of one call, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_bytes(fn) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure() -> None:
    """The measuring half: runs inside the benchmark namespace."""
    from lvsmon.ipvs import IpvsNetlink
    from lvsmon.ipvs.procfs import read_procfs

    with IpvsNetlink() as nl, IpvsNetlink(fast_path=False) as walked:
        report(nl, walked, read_procfs)


def report(nl, walked, read_procfs) -> None:
    table = nl.read_table()
    dests = sum(len(s.real_servers) for s in table.services)
    print(f"table: {len(table.services)} services, {dests} real servers; "
          f"{nl.fast_path_messages} messages read by the fast path, {len(table.warnings)} warnings")

    def ipvsadm():
        subprocess.run(
            ["ipvsadm", "-Ln", "--stats", "--exact"], check=True, stdout=subprocess.DEVNULL
        )

    results = {
        "ipvsadm -Ln --stats --exact (reference)": timed(ipvsadm, 5),
        "lvsmon netlink read": timed(nl.read_table, 5),
        "lvsmon netlink read, generic walk only": timed(walked.read_table, 5),
        "lvsmon procfs read": timed(lambda: read_procfs("/proc"), 5),
    }
    reference = results["ipvsadm -Ln --stats --exact (reference)"]
    for name, seconds in results.items():
        print(
            f"{name:<42} {seconds * 1000:8.1f} ms/read {1 / seconds:8.1f} reads/s "
            f"ratio to reference {reference / seconds:5.2f}x"
        )
    print(f"peak Python memory of one netlink read: {peak_bytes(nl.read_table) / 2**20:.1f} MiB")
    procfs_peak = peak_bytes(lambda: read_procfs("/proc"))
    print(f"peak Python memory of one procfs read:  {procfs_peak / 2**20:.1f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--real-servers", type=int, default=10)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        measure()
        return 0
    with Lab() as lab:
        ns = lab.namespace("bench")
        ns.run(["ip", "link", "add", "rs0", "type", "dummy"])
        ns.run(["ip", "addr", "add", "10.200.0.1/16", "dev", "rs0"])
        ns.run(["ip", "link", "set", "rs0", "up"])
        rules = build_rules(args.services, args.real_servers)
        start = time.perf_counter()
        subprocess.run(ns.exec_argv(["ipvsadm", "-R"]), input=rules, text=True, check=True)
        print(f"built with ipvsadm -R in {time.perf_counter() - start:.1f} s")
        subprocess.run(
            ns.exec_argv([sys.executable, "-m", "benchmarks.ipvs_read", "--inside"]), check=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
