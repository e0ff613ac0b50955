"""A real Prometheus (Debian's) scrapes the exporter's HTTP server over TLS with basic auth and a
client certificate, on loopback: its query API shows the series, a wrong password is a 401,
plain HTTP to the TLS port and a missing client certificate never get an answer.

Prometheus runs with its own temporary config and data directory on a free loopback port
(never the system service). Run under the heavy-test lock:

    flock /work/team/heavy.lock .venv/bin/python -m pytest tests/lab/test_exporter_prometheus.py
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from lvsmon_exporter.exposition import render
from lvsmon_exporter.web_config import load_web_config
from tests.exporter_support import ServerThread, free_port, htpasswd_hash, make_certs
from tests.lab import Process, wait_for

PROGRAMS = ("prometheus", "openssl", "htpasswd")
_MISSING = [program for program in PROGRAMS if shutil.which(program) is None]
pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    bool(_MISSING), reason=f"needs {', '.join(_MISSING)} (Debian prometheus, openssl, "
                           "apache2-utils)")]  # fmt: skip

ESCAPED = 'a "quoted" back\\slash\nand a newline'
JOBS = ("good", "wrong_password", "plain_http", "no_client_cert")


class KnownSeries:
    """The render handed to the server: a few known series; remembers the formats asked."""

    def __init__(self):
        self.formats: set[bool] = set()

    def __call__(self, openmetrics: bool) -> bytes:
        self.formats.add(openmetrics)
        masters = GaugeMetricFamily("lvsmon_test_masters", "Routers advertising as master.",
                                    labels=["interface", "vrid"])  # fmt: skip
        masters.add_metric(["eth0", "51"], 1)
        masters.add_metric(["eth1", "52"], 2)
        adverts = CounterMetricFamily("lvsmon_test_adverts", "Adverts heard.", labels=["vrid"])
        adverts.add_metric(["51"], 1234)
        build = InfoMetricFamily("lvsmon_test_build", "Build facts.")
        build.add_metric([], {"version": "0.1.0"})
        escapes = GaugeMetricFamily("lvsmon_test_escapes", "Label value with escapes.",
                                    labels=["text"])  # fmt: skip
        escapes.add_metric([ESCAPED], 7)
        return render([masters, adverts, build, escapes], openmetrics)


def prometheus_config(tmp_path: Path, certs, port: int) -> Path:
    target = f"['127.0.0.1:{port}']"
    tls = (f"    tls_config:\n      ca_file: {certs.ca}\n      cert_file: {certs.client_cert}\n"
           f"      key_file: {certs.client_key}\n")
    tls_no_cert = f"    tls_config:\n      ca_file: {certs.ca}\n"

    def job(name: str, scheme: str, password: str, tls_text: str) -> str:
        return (f"  - job_name: {name}\n    scheme: {scheme}\n{tls_text}"
                f"    basic_auth:\n      username: prometheus\n      password: {password}\n"
                f"    static_configs:\n      - targets: {target}\n")

    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        + job("good", "https", "s3cret", tls)
        + job("wrong_password", "https", "guess", tls)
        + job("plain_http", "http", "s3cret", "")
        + job("no_client_cert", "https", "s3cret", tls_no_cert))
    return config


def api(port: int, path: str, **query: str):
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]


def instant(port: int, expression: str) -> dict[str, float]:
    """{job: value} of an instant query."""
    return {sample["metric"].get("job", ""): float(sample["value"][1])
            for sample in api(port, "query", query=expression)["result"]}


def test_prometheus_scrapes_over_tls_with_basic_auth(tmp_path):
    certs = make_certs(tmp_path / "certs")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {certs.server_cert}\n"
                   f"  key_file: {certs.server_key}\n"
                   f"  client_auth_type: RequireAndVerifyClientCert\n"
                   f"  client_ca_file: {certs.ca}\n"
                   f"basic_auth_users:\n  prometheus: {htpasswd_hash('prometheus', 's3cret')}\n")
    series = KnownSeries()
    with ServerThread(series, load_web_config(web)) as server:
        data = tmp_path / "prometheus-data"
        data.mkdir()
        port = free_port()
        prometheus = Process("prometheus", [
            "prometheus", f"--config.file={prometheus_config(tmp_path, certs, server.port)}",
            f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}"],
            tmp_path / "prometheus.log")  # fmt: skip
        try:
            def scraped():
                prometheus.check_running()
                targets = api(port, "targets")["activeTargets"]
                health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
                return health if all(health.get(job, ("unknown",))[0] != "unknown"
                                     for job in JOBS) else None

            health = wait_for(scraped, 60, what="every job scraped once")
            assert health["good"] == ("up", ""), health
            for job in ("wrong_password", "plain_http", "no_client_cert"):
                assert health[job][0] == "down", health
            assert "401" in health["wrong_password"][1], health

            masters = wait_for(lambda: api(port, "query", query="lvsmon_test_masters")["result"],
                               30, what="lvsmon_test_masters in Prometheus")  # fmt: skip
            assert sorted((s["metric"]["interface"], s["metric"]["vrid"], s["value"][1])
                          for s in masters) == [("eth0", "51", "1"), ("eth1", "52", "2")]
            assert instant(port, "lvsmon_test_adverts_total") == {"good": 1234.0}
            assert instant(port, 'lvsmon_test_build_info{version="0.1.0"}') == {"good": 1.0}
            text = api(port, "query", query="lvsmon_test_escapes")["result"][0]["metric"]["text"]
            assert text == ESCAPED
            assert instant(port, "up") == {"good": 1.0, "wrong_password": 0.0,
                                           "plain_http": 0.0, "no_client_cert": 0.0}
            assert series.formats == {True}  # Prometheus asked for OpenMetrics, and got it
            counters = server.counters
            assert counters["unauthorized"] >= 1 and counters["tls_handshake_failures"] >= 2
        finally:
            prometheus.stop()
