"""The exporter's HTTP server on loopback, with real clients: http.client, raw sockets, Python's
ssl, curl and openssl s_client. Nothing here needs privileges or leaves loopback."""

from __future__ import annotations

import base64
import gzip
import http.client
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from lvsmon.errors import ExporterError, UsageError
from lvsmon_exporter.exposition import render
from lvsmon_exporter.http_server import Limits, MetricsServer, parse_listen
from lvsmon_exporter.web_config import load_web_config
from tests.exporter_support import ServerThread, htpasswd_hash, htpasswd_missing, make_certs
from tests.lab.waiting import wait_for

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def families():
    masters = GaugeMetricFamily("lvsmon_test_masters", "Routers advertising as master.",
                                labels=["vrid"])  # fmt: skip
    masters.add_metric(["51"], 1)
    adverts = CounterMetricFamily("lvsmon_test_adverts", "Adverts heard.", labels=["vrid"])
    adverts.add_metric(["51"], 1234)
    return [masters, adverts]


class Renders:
    """A render function that counts its calls and can be held until released."""

    def __init__(self, hold: bool = False):
        self.calls = 0
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, openmetrics: bool) -> bytes:
        self.calls += 1
        self.release.wait(30)
        return render(families(), openmetrics)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def get(port: int, path: str = "/metrics", method: str = "GET", headers=None,
        context: ssl.SSLContext | None = None, host: str = "127.0.0.1"):  # fmt: skip
    """(status, headers dict, body) of one request on a new connection."""
    if context is None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
    else:
        connection = http.client.HTTPSConnection(host, port, timeout=30, context=context)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def exchange(port: int, data: bytes, timeout: float = 30) -> bytes:
    """Send raw bytes, read until the server closes (a closing error counts as closing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# -- paths, methods, formats -----------------------------------------------------------------


def test_metrics_in_both_formats_with_head_and_gzip():
    with ServerThread(Renders()) as server:
        status, headers, body = get(server.port)
        assert (status, headers["Content-Type"]) == (200, TEXT)
        assert body == render(families())
        assert int(headers["Content-Length"]) == len(body) and "Date" in headers
        status, headers, body = get(server.port, headers={
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
        assert (status, headers["Content-Type"], body) == (200, OPENMETRICS,
                                                           render(families(), True))
        status, headers, body = get(server.port, method="HEAD")
        assert (status, body) == (200, b"")
        assert int(headers["Content-Length"]) == len(render(families()))
        status, headers, body = get(server.port, headers={"Accept-Encoding": "gzip, br"})
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == render(families())
        status, headers, body = get(server.port, headers={"Accept-Encoding": "gzip;q=0"})
        assert "Content-Encoding" not in headers and body == render(families())
        assert server.counters["scrapes"] == 5


def test_landing_page_health_and_other_paths():
    with ServerThread(Renders()) as server:
        status, headers, body = get(server.port, "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'href="metrics"' in body
        assert get(server.port, "/-/healthy")[::2] == (200, b"OK\n")
        assert get(server.port, "/-/healthy", method="HEAD")[::2] == (200, b"")
        assert get(server.port, "/metrics?name[]=x")[0] == 200
        for path in ("/metric", "/metrics/", "/-/ready", "//metrics", "/favicon.ico"):
            assert get(server.port, path)[0] == 404, path
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"):
            status, headers, _ = get(server.port, "/metrics", method=method)
            assert (status, headers["Allow"]) == (405, "GET, HEAD"), method
        counters = server.counters
        assert counters["not_found"] == 5 and counters["method_not_allowed"] == 6


def test_keep_alive_serves_many_requests_on_one_connection():
    with ServerThread(Renders()) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for path in ("/metrics", "/-/healthy", "/nothing", "/metrics"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.getheader("Connection") is None
        connection.close()
        counters = server.counters
        assert counters["connections_accepted"] == 1 and counters["requests"] == 4


def test_pipelined_requests_are_answered_in_order():
    with ServerThread(Renders()) as server:
        data = exchange(server.port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
                                     b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                                     b"GET /-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert re.findall(rb"HTTP/1.1 (\d+) ", data) == [b"200", b"404", b"200"]
        assert data.count(b"Connection: close") == 1


def test_http_1_0_closes_unless_asked_to_keep_alive():
    with ServerThread(Renders()) as server:
        data = exchange(server.port, b"GET /-/healthy HTTP/1.0\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"GET /-/healthy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            first = sock.recv(65536)
            assert b"Connection: keep-alive" in first and first.endswith(b"OK\n")
            sock.sendall(b"GET /-/healthy HTTP/1.0\r\n\r\n")
            assert read_until_closed(sock).endswith(b"OK\n")


# -- bad clients -----------------------------------------------------------------------------


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /metrics\r\n\r\n", 400),
    (b"GET  /metrics HTTP/1.1\r\n\r\n", 400),
    (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
    (b"GET /metrics HTTX/1.1\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1 extra\r\n\r\n", 400),
    (b"G(T /metrics HTTP/1.1\r\n\r\n", 400),
    (b"GET metrics HTTP/1.1\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\n\r\n", 400),
    (b"GET /m\x7fetrics HTTP/1.1\r\n\r\n", 400),
    (b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded: y\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nX: a\nb\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 405),
    (b"GET /metrics HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400),
])  # fmt: skip
def test_malformed_requests_get_an_error_and_the_connection_closed(request_bytes, status):
    with ServerThread(Renders()) as server:
        data = exchange(server.port, request_bytes + b"GET /-/healthy HTTP/1.1\r\n\r\n")
        assert status_of(data) == status, data
        assert data.count(b"HTTP/1.1 ") == 1, data  # closed: the next request was not read
        assert get(server.port, "/-/healthy")[0] == 200


def test_oversized_heads_get_431():
    with ServerThread(Renders()) as server:
        big = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        assert status_of(exchange(server.port, big)) == 431
        many = b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(70))
        assert status_of(exchange(server.port, many + b"\r\n")) == 431
        endless = b"GET /" + b"a" * 20000
        assert status_of(exchange(server.port, endless)) == 431
        assert server.counters["requests_too_large"] == 3
        assert get(server.port, "/-/healthy")[0] == 200


def test_a_slow_request_head_gets_408_while_others_are_served():
    limits = Limits(head_seconds=1.0)
    with ServerThread(Renders(), limits=limits) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
            slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the end
            assert get(server.port)[0] == 200
            started = time.monotonic()
            data = read_until_closed(slow)
            assert status_of(data) == 408 and time.monotonic() - started < 25
        assert server.counters["request_timeouts"] == 1


def test_an_idle_connection_is_closed_and_an_early_disconnect_is_fine():
    with ServerThread(Renders(), limits=Limits(idle_seconds=0.5)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as idle:
            assert read_until_closed(idle) == b""
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as gone:
            gone.sendall(b"GET /metrics HTTP/1.1\r\nHo")
        wait_for(lambda: server.counters["requests_incomplete"] == 1, 10, what="incomplete")
        assert get(server.port, "/-/healthy")[0] == 200


def test_too_many_connections_evict_the_idle_then_refuse():
    limits = Limits(max_connections=2, head_seconds=30)
    with ServerThread(Renders(), limits=limits) as server:
        first = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        wait_for(lambda: server.counters["connections_accepted"] == 1, 10, what="first")
        second = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        wait_for(lambda: server.counters["connections_accepted"] == 2, 10, what="second")
        assert get(server.port, "/-/healthy")[0] == 200  # makes room: the first goes
        assert read_until_closed(first) == b""
        assert server.counters["connections_evicted"] == 1
        third = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        for busy in (second, third):  # both in the middle of a request head now
            busy.sendall(b"GET /metrics HTTP/1.1\r\n")
        wait_for(lambda: server.counters["connections_accepted"] == 4, 10, what="third")
        refused = exchange(server.port, b"GET /-/healthy HTTP/1.1\r\n\r\n")
        assert status_of(refused) == 503
        assert server.counters["connections_rejected"] == 1
        for sock in (first, second, third):
            sock.close()
        wait_for(lambda: get(server.port, "/-/healthy")[0] == 200, 10, what="room again")


def test_a_client_that_does_not_read_is_dropped_after_the_write_timeout():
    body = b"x" * (64 * 1024 * 1024)  # more than loopback socket buffers hold
    server = ServerThread(lambda openmetrics: body, limits=Limits(write_seconds=1.0))
    with server, socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: server.counters["write_timeouts"] == 1, 30, what="write timeout")
        assert get(server.port, "/-/healthy")[0] == 200


# -- rendering -------------------------------------------------------------------------------


def test_a_failing_render_is_a_500_and_serving_goes_on():
    outcomes = iter([RuntimeError("snapshot broken"), "not bytes", b"ok 1\n"])

    def flaky(openmetrics):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with ServerThread(flaky) as server:
        assert get(server.port)[0] == 500
        assert get(server.port)[0] == 500
        assert get(server.port)[::2] == (200, b"ok 1\n")
        assert server.counters["render_errors"] == 2


def test_concurrent_scrapes_share_one_render_and_health_answers_meanwhile():
    renders = Renders(hold=True)
    with ServerThread(renders) as server:
        results = []
        clients = [threading.Thread(target=lambda: results.append(get(server.port)))
                   for _ in range(3)]  # fmt: skip
        for client in clients:
            client.start()
        wait_for(lambda: server.counters["scrapes"] == 3, 10, what="three scrapes waiting")
        assert get(server.port, "/-/healthy")[0] == 200  # the loop is free during a render
        renders.release.set()
        for client in clients:
            client.join(30)
        assert [status for status, _, _ in results] == [200, 200, 200]
        assert renders.calls == 1
        assert get(server.port)[0] == 200 and renders.calls == 2


def test_a_large_body_arrives_whole():
    body = b"".join(b"lvsmon_test_big{n=\"%d\"} %d.0\n" % (n, n) for n in range(200_000))
    with ServerThread(lambda openmetrics: body) as server:
        status, _, received = get(server.port)
        assert status == 200 and received == body
        status, headers, received = get(server.port, headers={"Accept-Encoding": "gzip"})
        assert gzip.decompress(received) == body


# -- TLS -------------------------------------------------------------------------------------


def tls_config(tmp_path, certs, extra: str = ""):
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {certs.server_cert}\n"
                    f"  key_file: {certs.server_key}\n{extra}")
    return load_web_config(path)


def client_context(certs, cert=None, key=None, maximum=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert:
        context.load_cert_chain(str(cert), str(key))
    if maximum:
        context.maximum_version = maximum
    return context


def test_https_and_plain_http_to_the_tls_port_is_refused(tmp_path, certs):
    with ServerThread(Renders(), tls_config(tmp_path, certs)) as server:
        status, headers, body = get(server.port, context=client_context(certs))
        assert (status, body) == (200, render(families()))
        data = exchange(server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"HTTP/" not in data and b"lvsmon_test" not in data
        wait_for(lambda: server.counters["tls_handshake_failures"] == 1, 10, what="counted")
        assert server.counters["requests"] == 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_over_tls_with_keep_alive(tmp_path, certs):
    with ServerThread(Renders(), tls_config(tmp_path, certs)) as server:
        url = f"https://127.0.0.1:{server.port}"
        result = subprocess.run(["curl", "-sS", "--cacert", str(certs.ca), "--compressed",
                                 f"{url}/metrics", f"{url}/-/healthy"], capture_output=True,
                                timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == render(families()) + b"OK\n"
        assert server.counters["connections_accepted"] == 1


def test_client_certificates_required(tmp_path, certs):
    web = tls_config(tmp_path, certs, "  client_auth_type: RequireAndVerifyClientCert\n"
                                      f"  client_ca_file: {certs.ca}\n")  # fmt: skip
    with ServerThread(Renders(), web) as server:
        good = client_context(certs, certs.client_cert, certs.client_key)
        assert get(server.port, context=good)[0] == 200
        for context in (client_context(certs),
                        client_context(certs, certs.stranger_cert, certs.stranger_key)):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                get(server.port, context=context)
        assert server.counters["tls_handshake_failures"] >= 2


def test_client_certificates_checked_if_given(tmp_path, certs):
    web = tls_config(tmp_path, certs, "  client_auth_type: VerifyClientCertIfGiven\n"
                                      f"  client_ca_file: {certs.ca}\n")  # fmt: skip
    with ServerThread(Renders(), web) as server:
        assert get(server.port, context=client_context(certs))[0] == 200
        good = client_context(certs, certs.client_cert, certs.client_key)
        assert get(server.port, context=good)[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(server.port, context=client_context(certs, certs.stranger_cert,
                                                    certs.stranger_key))


def test_min_version_tls13_refuses_a_tls12_client(tmp_path, certs):
    with ServerThread(Renders(), tls_config(tmp_path, certs, "  min_version: TLS13\n")) as server:
        assert get(server.port, context=client_context(certs))[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(server.port, context=client_context(certs, maximum=ssl.TLSVersion.TLSv1_2))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_a_stalled_tls_handshake_times_out(tmp_path, certs):
    with ServerThread(Renders(), tls_config(tmp_path, certs),
                      limits=Limits(handshake_seconds=0.5)) as server:  # fmt: skip
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            assert read_until_closed(sock) == b""  # sent no ClientHello: dropped
        wait_for(lambda: server.counters["tls_handshake_failures"] == 1, 10, what="counted")
        result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}",
                                 "-CAfile", str(certs.ca), "-verify_return_error", "-brief",
                                 "-ign_eof"],
                                input=b"GET /-/healthy HTTP/1.0\r\n\r\n", capture_output=True,
                                timeout=60)  # fmt: skip
        assert b"HTTP/1.1 200 OK" in result.stdout, result.stderr


# -- basic auth ------------------------------------------------------------------------------


def credentials(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.skipif(htpasswd_missing() is not None, reason=str(htpasswd_missing()))
def test_basic_auth_and_configured_headers(tmp_path):
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: {htpasswd_hash('prometheus', 's3cret')}\n"
                    "basic_auth_excluded_paths: [/-/healthy]\n"
                    "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    with ServerThread(Renders(), load_web_config(path)) as server:
        status, headers, _ = get(server.port)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
        assert headers["X-Frame-Options"] == "deny"
        for user, password in (("prometheus", "wrong"), ("nobody", "s3cret"), ("", "")):
            assert get(server.port, headers=credentials(user, password))[0] == 401
        assert get(server.port, headers={"Authorization": "Basic %%%"})[0] == 401
        assert get(server.port, "/nothing")[0] == 401  # no hint which paths exist
        status, headers, body = get(server.port, headers=credentials("prometheus", "s3cret"))
        assert (status, body) == (200, render(families()))
        assert headers["X-Frame-Options"] == "deny"
        assert get(server.port, "/-/healthy")[0] == 200
        assert server.counters["unauthorized"] == 6


@pytest.mark.skipif(htpasswd_missing() is not None, reason=str(htpasswd_missing()))
def test_reconfigure_changes_users_now_and_tls_for_new_connections(tmp_path, certs):
    first = tmp_path / "first.yml"
    first.write_text(f"basic_auth_users:\n  alice: {htpasswd_hash('alice', 'one')}\n")
    second = tmp_path / "second.yml"
    second.write_text(f"basic_auth_users:\n  alice: {htpasswd_hash('alice', 'two')}\n")
    with ServerThread(Renders(), load_web_config(first)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/metrics", headers=credentials("alice", "one"))
        assert connection.getresponse().read() and server.counters["requests"] == 1
        server.call(server.server.reconfigure, load_web_config(second))
        connection.request("GET", "/metrics", headers=credentials("alice", "one"))
        assert connection.getresponse().status == 401  # same connection, new users
        connection.close()
        assert get(server.port, headers=credentials("alice", "two"))[0] == 200
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        wait_for(lambda: server.counters["connections_accepted"] == 3, 10, what="idle one")
        server.call(server.server.reconfigure, tls_config(tmp_path, certs))
        assert read_until_closed(idle) == b""  # made under plain HTTP: closed
        idle.close()
        assert get(server.port, "/-/healthy", context=client_context(certs))[0] == 200


# -- listening -------------------------------------------------------------------------------


def test_ipv6_and_several_addresses():
    with ServerThread(Renders(), listen=["127.0.0.1:0", "[::1]:0"]) as server:
        (_, port4), (address6, port6) = server.server.addresses
        assert address6 == "::1"
        assert get(port4, "/-/healthy")[0] == 200
        assert get(port6, "/-/healthy", host="::1")[0] == 200


def test_a_taken_port_is_an_error_and_nothing_stays_bound():
    with ServerThread(Renders()) as server:
        taken = server.port
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        late = MetricsServer([f"127.0.0.1:{free}", f"127.0.0.1:{taken}"], Renders())
        with pytest.raises(ExporterError, match=f"cannot listen on 127.0.0.1:{taken}: "):
            server.run(late.start())
        with socket.socket() as again:
            again.bind(("127.0.0.1", free))  # the first address was released


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9100", ("127.0.0.1", 9100)), ("[::1]:9100", ("::1", 9100)),
    ("[2001:db8::1]:80", ("2001:db8::1", 80)), (":9100", (None, 9100)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
])  # fmt: skip
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["localhost:9100", "127.0.0.1", "::1:9100", "[::1]", ":99999",
                                  "127.0.0.1:http", "[::1]9100", "", "1.2.3.4:65536"])
def test_bad_listen_addresses(text):
    with pytest.raises(UsageError):
        MetricsServer([text], Renders())


def test_no_listen_address_is_an_error():
    with pytest.raises(UsageError):
        MetricsServer([], Renders())
