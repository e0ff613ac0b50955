"""Start-up cost of the Nagios checks, as NRPE pays it: a fresh process per check.

Run from the repo root: `python -m benchmarks.checks [--runs N] [--importtime]`. Each check
runs as its installed console script (a subprocess, exactly as nrpe runs a command):
check_snat on a status file of a running recorder with a small store, check_ipvs on saved
procfs files (tests/fixtures/ipvs: five services), check_vrrp asking a real status server
(lvsmon.status_socket, in a thread of this process) for a daemon state of eight VRRP
segments with an hour of adverts each, and for a participant instance. The floor is
`python -c pass` with the same interpreter the console scripts start with, measured in the
same rounds (the runs are interleaved, so a busy machine slows all alike). Byte code is
cached as after an install (PYTHONDONTWRITEBYTECODE is dropped for the runs; one warm-up
run each writes it). Prints the median wall time of each and its distance from the floor;
the goal is within 0.15 s.
--importtime adds the modules that cost a check most to import (-X importtime, cumulative).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lvsmon.model import SnatConnection
from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.vrrp import InstanceSnapshot, ObserverSnapshot, ParticipantSnapshot
from lvsmon.snat.store_sqlite import SqliteStore
from lvsmon.vrrp.segment import Segment
from tests.served_state import ServedState
from tests.snat_status import status_doc
from tests.vrrp_adverts import send, steps

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "ipvs"
GOAL_SECONDS = 0.15


def console_script(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        sys.exit(f"no console script {path}: install the project (pip install -e .)")
    return str(path)


def snat_files(home: Path) -> tuple[Path, Path]:
    """A status file as a running recorder writes it (this process stands in for the
    recorder's pid), and a store with a few records."""
    store = home / "snat.sqlite"
    db = SqliteStore(store)
    db.write([SnatConnection(protocol="tcp", family="inet", inside_address="192.168.1.20",
                             inside_port=51000 + n, translated_address="10.0.0.5",
                             translated_port=40000 + n, original_destination_address="10.0.0.1",
                             original_destination_port=80, conntrack_id=n, node="lb1",
                             start_ns=time.time_ns(), start_exact=True)
              for n in range(100)], [], [])
    db.close()
    return home / "status.json", store


def refresh_status(status: Path, store: Path) -> None:
    status.write_text(json.dumps(status_doc(store)))  # as the recorder rewrites it each second


def procfs_copy(home: Path) -> Path:
    root = home / "proc"
    (root / "net").mkdir(parents=True)
    for name in ("ip_vs", "ip_vs_stats"):
        shutil.copy(FIXTURES / name, root / "net" / name)
    return root


def vrrp_state(segments: int = 8) -> DaemonState:
    """A daemon's state: `segments` VRIDs, each preempted once and then advertised on for
    an hour (one advert a second), and one participant instance."""
    now = time.time()
    views = []
    for vrid in range(51, 51 + segments):
        segment = Segment("eth0", "inet", vrid)
        send(segment, "10.0.0.2", 100, steps(now - 3610, now - 3600), vrid=vrid)
        send(segment, "10.0.0.1", 150, steps(now - 3599, now), vrid=vrid)
        segment.tick(now)
        views.append(segment.snapshot(now))
    observer = ObserverSnapshot(now, ("eth0",), tuple(views))
    web = InstanceSnapshot("web", "eth0", "inet", 71, 3, "BACKUP", 100, 100, "10.0.0.3",
                           "10.0.0.1", now - 60, (), ())
    return DaemonState(
        DaemonInfo("bench", os.getpid(), now - 3700, now),
        vrrp=SourceState(enabled=True).succeeded(observer, now),
        participant=SourceState(enabled=True).succeeded(ParticipantSnapshot(now, (web,)), now))


# As installed: pip writes .pyc files at install time, so the runs may write (and then use)
# them here too, whatever PYTHONDONTWRITEBYTECODE says in this environment.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start, done.returncode


def import_costs(argv: list[str], top: int) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the costliest imports of one run."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, env=ENV)
    costs = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        costs.append((int(cumulative), name.rstrip()))
    return sorted(costs, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each [%(default)s]")
    parser.add_argument("--importtime", action="store_true",
                        help="also print the costliest imports of each check")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lvsmon-bench-checks-") as tmp, \
            ServedState(Path(tmp) / "status.sock", vrrp_state()) as daemon:
        home = Path(tmp)
        status, store = snat_files(home)
        procfs = procfs_copy(home)
        commands = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "check_snat": [console_script("check_snat"), "--status-file", str(status)],
            "check_ipvs": [console_script("check_ipvs"), "--source", "procfs",
                           "--procfs-root", str(procfs)],
            "check_vrrp": [console_script("check_vrrp"), "--socket", daemon.path],
            "check_vrrp --instance": [console_script("check_vrrp"), "--socket", daemon.path,
                                      "--instance", "web", "--expect-state", "backup",
                                      "--vrid", "51"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        codes: dict[str, set[int]] = {name: set() for name in commands}
        for argv in commands.values():  # one unmeasured run each: caches, .pyc files
            refresh_status(status, store)
            timed(argv)
        for _ in range(args.runs):
            for name, argv in commands.items():
                refresh_status(status, store)
                seconds, code = timed(argv)
                times[name].append(seconds)
                codes[name].add(code)

        floor = statistics.median(times["python -c pass (floor)"])
        print(f"{args.runs} runs each, interleaved; {os.cpu_count()} CPUs; "
              f"interpreter {sys.executable}")
        print(f"{'command':<24} {'median':>9} {'min':>9} {'above floor':>12}  exit codes")
        for name in commands:
            median = statistics.median(times[name])
            above = median - floor
            verdict = "" if name.endswith("(floor)") else (
                "  within goal" if above <= GOAL_SECONDS else "  OVER the 0.15 s goal")
            print(f"{name:<24} {median * 1000:>7.1f}ms {min(times[name]) * 1000:>7.1f}ms "
                  f"{above * 1000:>10.1f}ms  {sorted(codes[name])}{verdict}")
        if args.importtime:
            for name, argv in commands.items():
                if name.endswith("(floor)"):
                    continue
                refresh_status(status, store)
                print(f"\ncostliest imports of {name} (cumulative):")
                for micros, module in import_costs(argv, 8):
                    print(f"  {micros / 1000:7.1f}ms  {module}")


if __name__ == "__main__":
    main()
