"""Scraping `lvsmon run` against node_exporter's ipvs collector, on the same procfs table.

Run as root from the repo root: `python -m benchmarks.exporter_scrape [--rounds 12]`.

A synthetic table of 1,000 services x 10 real servers is written as /proc/net/ip_vs and
ip_vs_stats (benchmarks.procfs_table). In one lab namespace, node_exporter reads it with
`--path.procfs` and only its ipvs collector; `lvsmon run` reads it with [ipvs] source =
"procfs" every 5 s and serves /metrics; it also runs a VRRP participant (0.1 s adverts) whose
adverts a second namespace timestamps. Printed:

- scrape wall time (request to last byte), alternating the two in one run: lvsmon's first
  scrape after each IPVS read ("cold": the table is rendered) and another right after it
  ("warm": served from the snapshot's cache), node_exporter's (it reads procfs on every
  scrape); medians and the ratios to node_exporter; the series each serves;
- the daemon's resident memory with the table loaded;
- its CPU seconds per minute at one scrape every 15 s (Prometheus's default);
- the participant's advert intervals while scrapes run (one a second, then back to back): the
  largest deviation from the configured 0.1 s, beside the same without scrapes.

All traffic stays inside the lab's namespaces.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.proc_cpu import cpu_seconds

REPO = Path(__file__).resolve().parents[1]
D4, OBS4 = "10.35.0.30", "10.35.0.40"
LVSMON_PORT, NODE_PORT = 10573, 9100
INTERVAL = 0.1
IPVS_INTERVAL = 5.0


def fetch(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - started, body


def client(argv: list[str]) -> None:
    """Runs inside the namespace: one JSON line per command on stdin, one answer each."""
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "scrape":
            try:
                seconds, body = fetch(command["url"])
            except OSError as exc:  # not listening yet: the caller waits and asks again
                print(json.dumps({"error": str(exc), "series": 0}), flush=True)
                continue
            series = sum(1 for row in body.splitlines() if row and not row.startswith(b"#"))
            answer = {"seconds": seconds, "series": series, "bytes": len(body)}
        elif command["do"] == "loop":  # scrape back to back for a while
            deadline = time.monotonic() + command["seconds"]
            count = 0
            while time.monotonic() < deadline:
                started = time.monotonic()
                fetch(command["url"])
                count += 1
                time.sleep(max(0.0, started + command.get("pause", 0.0) - time.monotonic()))
            answer = {"scrapes": count}
        else:
            answer = {"error": f"unknown {command}"}
        print(json.dumps(answer), flush=True)


class Client:
    def __init__(self, namespace):
        self.process = subprocess.Popen(
            namespace.exec_argv([sys.executable, "-m", "benchmarks.exporter_scrape", "--client"]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def last_ipvs_read(body: bytes) -> float | None:
    for line in body.decode().splitlines():
        if line.startswith('lvsmon_source_last_success_timestamp_seconds{source="ipvs"}'):
            return float(line.split()[-1])
    return None


def largest_deviation(stamps: list[float]) -> tuple[float, int]:
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return max((abs(gap - INTERVAL) for gap in gaps), default=float("nan")), len(gaps)


def measure(rounds: int) -> None:
    from benchmarks.procfs_table import write_procfs
    from benchmarks.vrrp_failover import VRID, adverts
    from tests.lab import Lab
    from tests.lab.vrrp_participant import participant_toml

    with Lab() as lab:
        procfs = write_procfs(lab.tmpdir / "proc", 1000, 10)
        segment = lab.segment("bench")
        d, obs = lab.namespace("d"), lab.namespace("obs")
        segment.attach(d, [f"{D4}/24"])
        segment.attach(obs, [f"{OBS4}/24"])
        config = lab.tmpdir / "lvsmon.toml"
        config.write_text(
            f'[daemon]\nstatus_socket = "{lab.tmpdir / "status.sock"}"\n'
            f'[observer]\nenabled = false\n'
            f'[ipvs]\nsource = "procfs"\nprocfs_root = "{procfs}"\ninterval = {IPVS_INTERVAL}\n'
            f'[exporter]\nlisten = ["{D4}:{LVSMON_PORT}"]\n'
            + participant_toml([{"name": "bench", "interface": "eth0", "vrid": VRID,
                                 "priority": 150, "advert_interval": INTERVAL,
                                 "vips": ["10.35.0.191/24"]}])
        )  # fmt: skip
        log = lab.tmpdir / "adverts.log"
        log.touch()
        obs.spawn([sys.executable, "-m", "benchmarks.vrrp_failover", "--listen", str(log),
                   "eth0"], name="listener", env={"PYTHONPATH": REPO})  # fmt: skip
        daemon = d.spawn([sys.executable, "-m", "lvsmon", "run", "--config", config],
                         name="lvsmon-run", env={"PYTHONPATH": REPO})  # fmt: skip
        d.spawn(["prometheus-node-exporter", f"--path.procfs={procfs}",
                 "--collector.disable-defaults", "--collector.ipvs",
                 f"--web.listen-address={D4}:{NODE_PORT}"], name="node-exporter")
        lvsmon_url = f"http://{D4}:{LVSMON_PORT}/metrics"
        node_url = f"http://{D4}:{NODE_PORT}/metrics"
        scraper = Client(d)
        try:
            lab.wait_for(lambda: scraper.ask(do="scrape", url=node_url)["series"] > 20000, 60,
                         what="node_exporter serving the table")  # fmt: skip
            lab.wait_for(lambda: scraper.ask(do="scrape", url=lvsmon_url)["series"] > 20000,
                         120, what="lvsmon serving the table")  # fmt: skip
            cold, warm, node = [], [], []
            series = {}
            seen = None
            for _ in range(rounds):
                # Wait for the daemon's next IPVS read, so that the first scrape renders it.
                deadline = time.monotonic() + 3 * IPVS_INTERVAL
                while time.monotonic() < deadline:
                    stamp = _status_ipvs_read(lab.tmpdir / "status.sock")
                    if stamp is not None and stamp != seen:
                        seen = stamp
                        break
                    time.sleep(0.05)
                answer = scraper.ask(do="scrape", url=lvsmon_url)
                cold.append(answer["seconds"])
                series["lvsmon"] = answer["series"]
                answer = scraper.ask(do="scrape", url=node_url)
                node.append(answer["seconds"])
                series["node_exporter"] = answer["series"]
                warm.append(scraper.ask(do="scrape", url=lvsmon_url)["seconds"])
            report_scrapes(cold, warm, node, series)
            print(f"lvsmon resident memory with the table loaded: {rss_mib(daemon.pid):.1f} MiB")

            started, before = time.monotonic(), cpu_seconds(daemon.pid)
            for index in range(4):
                while time.monotonic() < started + 15 * index:
                    time.sleep(0.1)
                scraper.ask(do="scrape", url=lvsmon_url)
            while time.monotonic() < started + 60:
                time.sleep(0.1)
            print(f"lvsmon CPU seconds per minute, one scrape every 15 s: "
                  f"{cpu_seconds(daemon.pid) - before:.2f}")

            quiet_from = time.time()
            time.sleep(20)
            phases = {"without scrapes": (quiet_from, time.time())}
            for label, pause in (("one scrape a second", 1.0), ("scrapes back to back", 0.0)):
                started = time.time()
                loops = scraper.ask(do="loop", url=lvsmon_url, seconds=20, pause=pause)
                phases[f"{label} ({loops['scrapes']})"] = (started, time.time())
            heard = adverts(log, quiet_from, D4)
            print(f"participant advert interval {INTERVAL} s, largest deviation "
                  "(goal: under 10 ms):")
            for label, (begin, end) in phases.items():
                deviation, count = largest_deviation([t for t in heard if begin <= t <= end])
                print(f"  {label:<36} {deviation * 1000:6.1f} ms over {count} intervals")
        finally:
            scraper.close()


def _status_ipvs_read(sock: Path) -> float | None:
    from lvsmon.status_client import ask_source

    try:
        return ask_source(str(sock), "ipvs", 5.0).last_success
    except Exception:  # noqa: BLE001 - not up yet
        return None


def report_scrapes(cold, warm, node, series) -> None:
    reference = statistics.median(node)
    print(f"scrape of 1,000 services x 10 real servers from procfs files, {len(node)} rounds:")
    for label, values in (("node_exporter (ipvs collector)", node),
                          ("lvsmon, first scrape after an IPVS read", cold),
                          ("lvsmon, scraped again", warm)):  # fmt: skip
        median = statistics.median(values)
        print(f"  {label:<42} median {median * 1000:8.1f} ms   ratio to node_exporter "
              f"{median / reference:5.2f}")
    print(f"  series served: lvsmon {series['lvsmon']}, node_exporter {series['node_exporter']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(sys.argv[2:])
        return 0
    measure(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
