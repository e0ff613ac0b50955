"""How late an asyncio timer runs while scrapes of a 1,000 x 10 IPVS table are served.

Run from the repo root: `python -m benchmarks.exporter_loop [--scrapes 6]`. The timer sleeps
0.01 s at a time, like the VRRP participant's advert timer, and records how late each wake-up
is. For each case it prints the largest lateness, the 99th percentile and the median, and the
longest garbage collection seen, with the interpreter's default GIL switch interval (5 ms)
and with 1 ms (sys.setswitchinterval), in one run against an idle baseline:

    render             lvsmon_exporter.exposition.render of ready families, in a worker thread
    collect+render     families built from a plain snapshot, then rendered, in a worker thread
    lazy               the same families as LazyFamily (samples made while rendering)
    http               MetricsServer in the timer's loop, curl scraping back to back
                       (OpenMetrics, gzip), render = lazy
    https+auth         the same over TLS with basic auth (certificates from openssl, the bcrypt
                       hash from htpasswd when it is installed)
    threaded http      http.server.ThreadingHTTPServer in threads of the same process, same
                       render: a thread-based server, for the choice between the two

Scrapes run back to back (the worst case of a scrape loop). curl runs as its own process, like
Prometheus would. With --freeze, gc.freeze() moves the heap present before each case (the
table, modules: the daemon's start-up heap) out of the collector's sight, so that full
collections walk only what is newer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.server
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.exporter_table import families, lazy_families, sample_count, snapshot
from lvsmon_exporter.exposition import LabelCache, render
from lvsmon_exporter.http_server import MetricsServer
from lvsmon_exporter.web_config import load_web_config

TICK = 0.01
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


class GcWatch:
    """The longest collection (seconds) and its generation since the last reset."""

    def __init__(self):
        self.longest = (0.0, -1)
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._started = time.perf_counter()
        else:
            took = time.perf_counter() - self._started
            if took > self.longest[0]:
                self.longest = (took, info["generation"])

    def reset(self):
        self.longest = (0.0, -1)


async def timer(stop: asyncio.Event, lateness: list[float]) -> None:
    while not stop.is_set():
        start = time.monotonic()
        await asyncio.sleep(TICK)
        lateness.append(time.monotonic() - start - TICK)


async def measure(work) -> list[float]:
    lateness: list[float] = []
    stop = asyncio.Event()
    ticking = asyncio.create_task(timer(stop, lateness))
    await asyncio.sleep(0.2)  # settle
    lateness.clear()
    try:
        await work()
    finally:
        stop.set()
        await ticking
    return lateness


def curl_loop(url: str, count: int, extra: list[str]) -> list[str]:
    """curl fetching `url` `count` times on one keep-alive connection, bodies discarded."""
    fetches = [part for _ in range(count) for part in (url, "-o", "/dev/null")]
    return ["curl", "-sS", "--compressed", "-H", f"Accept: {ACCEPT}", "--fail", *extra,
            *fetches]  # fmt: skip


async def run_curl(argv: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(*argv, stderr=subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"curl failed: {err.decode().strip()}")


def make_tls(directory: Path) -> tuple[Path, list[str]]:
    """A web-config with TLS (and basic auth when htpasswd exists), and curl's options."""
    from tests.exporter_support import htpasswd_hash, make_certs

    certs = make_certs(directory)
    text = (f"tls_server_config:\n  cert_file: {certs.server_cert}\n"
            f"  key_file: {certs.server_key}\n")
    extra = ["--cacert", str(certs.ca)]
    if shutil.which("htpasswd"):
        text += f"basic_auth_users:\n  prometheus: {htpasswd_hash('prometheus', 'pw', 10)}\n"
        extra += ["-u", "prometheus:pw"]
    path = directory / "web.yml"
    path.write_text(text)
    return path, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--reals", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=6, help="scrapes per case")
    parser.add_argument("--freeze", action="store_true",
                        help="gc.freeze() after building the table (the daemon's start-up "
                             "heap), so full collections skip it")
    args = parser.parse_args()
    table = snapshot(args.services, args.reals)
    cache = LabelCache()

    def collect_and_render(openmetrics: bool) -> bytes:
        return render(families(table=table), openmetrics, cache)

    def lazy_render(openmetrics: bool) -> bytes:
        return render(lazy_families(table), openmetrics, cache)

    watch = GcWatch()
    has_curl = shutil.which("curl") is not None
    with tempfile.TemporaryDirectory(prefix="lvsmon-bench-") as scratch:
        web_path, tls_curl = make_tls(Path(scratch)) if has_curl else (None, [])
        cases = [
            ("idle (timer alone)", lambda: asyncio.sleep(2.0)),
            ("render", lambda: render_ready(table, cache, args.scrapes)),
            ("collect+render", lambda: serial(lambda: collect_and_render(True), args.scrapes)),
            ("lazy", lambda: serial(lambda: lazy_render(True), args.scrapes)),
        ]
        if has_curl:
            cases += [
                ("http", lambda: over_http(lazy_render, None, [], args.scrapes)),
                ("https+auth", lambda: over_http(lazy_render, web_path, tls_curl, args.scrapes)),
                ("threaded http", lambda: threaded_http(lazy_render, args.scrapes)),
            ]
        print(f"{args.services} services x {args.reals} real servers, "
              f"{sample_count(families(table=table)):,} samples, {args.scrapes} scrapes per "
              f"case, timer every {TICK * 1000:g} ms"
              f"{', gc.freeze() before each case' if args.freeze else ''}")
        print(f"{'case':<20} {'switch':>7} {'ticks':>6} {'max late':>9} {'p99':>8} "
              f"{'median':>7} {'longest gc':>14}")
        default = sys.getswitchinterval()
        for name, work in cases:
            for interval in (default, 0.001):
                gc.collect()  # every case starts from the same heap
                if args.freeze:
                    gc.freeze()
                sys.setswitchinterval(interval)
                watch.reset()
                lateness = asyncio.run(measure(work))
                sys.setswitchinterval(default)
                took, generation = watch.longest
                ordered = sorted(lateness)
                p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
                print(f"{name:<20} {interval * 1000:>5.1f}ms {len(lateness):>6} "
                      f"{max(lateness) * 1000:>7.1f}ms {p99 * 1000:>6.1f}ms "
                      f"{statistics.median(lateness) * 1000:>5.2f}ms "
                      f"{took * 1000:>7.1f}ms gen{generation}")
    if not has_curl:
        print("curl not found: the HTTP cases were left out")


async def render_ready(table, cache, count: int) -> None:
    """Render families built beforehand (kept only for this case)."""
    ready = await asyncio.to_thread(families, table=table)
    await serial(lambda: render(ready, True, cache), count)


async def serial(function, count: int) -> None:
    for _ in range(count):
        await asyncio.to_thread(function)


async def over_http(render_function, web_path, curl_extra, count: int) -> None:
    web = load_web_config(web_path) if web_path else None
    server = MetricsServer(["127.0.0.1:0"], render_function, *([web] if web else []))
    await server.start()
    try:
        scheme = "https" if web else "http"
        url = f"{scheme}://127.0.0.1:{server.addresses[0][1]}/metrics"
        await run_curl(curl_loop(url, count, curl_extra))
    finally:
        await server.close()


async def threaded_http(render_function, count: int) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - http.server's name
            body = render_function("openmetrics" in self.headers.get("Accept", ""))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        argv = [arg for arg in curl_loop(url, count, []) if arg != "--compressed"]
        await run_curl(argv)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(server.shutdown)  # waits up to its 0.5 s poll
        server.server_close()


if __name__ == "__main__":
    main()
