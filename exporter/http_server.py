"""The exporter's HTTP server, running inside `lvsmon run`'s event loop.

    server = MetricsServer(["127.0.0.1:9xxx", "[::1]:9xxx"], render, web_config)
    await server.start()          # binds every address, or raises ExporterError (none kept)
    server.reconfigure(new_web)   # after a SIGHUP: new TLS for new connections, new users now
    await server.close()

    GET|HEAD /            a small landing page
    GET|HEAD /metrics     render(openmetrics) -> bytes, in a worker thread
    GET|HEAD /-/healthy   200 "OK": the daemon's event loop is running and answering
    anything else         404, or 405 for another method on these paths

`render(openmetrics: bool) -> bytes` is handed in by the daemon (it renders the published
snapshots; this module knows nothing of them). It runs in asyncio.to_thread, one render per
format at a time: scrapes that arrive while one runs share its result. The response is
gzipped (level 1: 18x smaller, a tenth of level 9's time) in the same worker thread when the
scraper asks for it, and written in 64 KiB pieces with a return to the loop between them, so
TLS encryption of a 10 MB body never holds the loop for long.

Why asyncio, not a threaded server (measured with benchmarks/exporter_loop.py on this
project's 2-core machine: a 10 ms asyncio timer, like the participant's advert timer, while
curl scrapes a 1,000 x 10 table back to back). Either way the render must run in a thread,
and it is that thread, not the server, that makes the loop late: the timer's median lateness
was 5.4 ms with the default GIL switch interval and 1.4 ms with 1 ms, the same for this
server, a threaded http.server and a bare asyncio.to_thread render (largest delays 10-30 ms
for all three, from garbage collection and the busy machine). What stays on the loop here,
parsing request heads, the TLS handshake and encryption in 64 KiB pieces, did not show in
those figures (HTTPS with basic auth was no later than plain HTTP). So the choice went to
what asyncio gives besides: one loop owns every connection, limits, timeouts, eviction and
counters are plain code without locks, the daemon starts, stops and reconfigures the server
like its other parts, and nothing is left running in a thread when it stops.

HTTP/1.1 only (Prometheus scrapes with it), keep-alive as clients ask. Every misbehaving
client costs one connection and a counter, never the loop: a request head must arrive within
head_seconds of its first byte (slowloris) and fit max_head_bytes; a bad request gets 400
(505 for HTTP/2, 431 too large, 408 too slow) and the connection closed; a connection idle
for idle_seconds is closed; at max_connections the connection idle the longest makes room,
or the new one is refused (503 on plain HTTP). TLS (start_tls on each accepted connection,
so a reload can change it) must complete within handshake_seconds; plain HTTP to a TLS port
fails the handshake and is never answered. Basic auth: 401 with WWW-Authenticate, bcrypt in
a worker thread, verdicts cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import logging
import re
import ssl
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlsplit

from lvsmon import __version__
from lvsmon.errors import ExporterError, UsageError
from lvsmon.snat.query import parse_endpoint
from lvsmon_exporter.basic_auth import BasicAuth
from lvsmon_exporter.negotiation import content_type, gzip_accepted, wants_openmetrics
from lvsmon_exporter.web_config import PLAIN_HTTP, WebConfig

Render = Callable[[bool], bytes]

METRICS_PATH = "/metrics"
HEALTH_PATH = "/-/healthy"
LANDING_PATH = "/"
METHODS = ("GET", "HEAD")
GZIP_LEVEL = 1
WRITE_CHUNK_BYTES = 64 * 1024
BACKLOG = 128

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}  # fmt: skip
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)\Z")
_TARGET = re.compile(rb"[\x21-\x7e]+\Z")
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Limits:
    max_connections: int = 64
    max_head_bytes: int = 8192  # request line and headers
    max_headers: int = 64
    head_seconds: float = 10.0  # from a request's first byte to the end of its head
    idle_seconds: float = 120.0  # keep-alive: waiting for the next request (or the first)
    handshake_seconds: float = 10.0
    write_seconds: float = 60.0  # for a whole response


def parse_listen(text: str) -> tuple[str | None, int]:
    """ "127.0.0.1:9100", "[::1]:9100", or ":9100" (every address) -> (host, port)."""
    if text.startswith(":") and text[1:].isdigit():
        port = int(text[1:])
        if port > 65535:
            raise UsageError(f"bad port in {text!r}")
        return None, port
    address, port = parse_endpoint(text, port_required=True)
    return address, port


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    keep_alive: bool
    http10: bool
    has_body: bool


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = _TEXT
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


@dataclass(eq=False)
class _Connection:
    task: asyncio.Task
    transport: asyncio.Transport
    generation: int
    idle_since: float
    busy: bool = False


class _PausedStreamProtocol(asyncio.StreamReaderProtocol):
    """Starts with reading paused: no byte reaches the plain stream before TLS takes over."""

    tls = False  # set before start_tls

    def connection_made(self, transport):
        transport.pause_reading()
        super().connection_made(transport)

    def eof_received(self):
        # A half-closed TLS connection cannot stay open; say so even mid-handshake.
        return super().eof_received() and not self.tls


class MetricsServer:
    """Serves render()'s bytes on every listen address (see the module's docstring).

    `counters` (since start, for the daemon's own metrics): connections_accepted,
    connections_rejected, connections_evicted, tls_handshake_failures, requests, scrapes,
    bad_requests, requests_too_large, request_timeouts, requests_incomplete, write_timeouts,
    unauthorized, not_found, method_not_allowed, render_errors, internal_errors.
    """

    def __init__(self, listen: Sequence[str], render: Render,
                 web_config: WebConfig = PLAIN_HTTP, *, limits: Limits | None = None,
                 title: str = "lvsmon") -> None:  # fmt: skip
        if not listen:
            raise UsageError("the exporter needs at least one listen address")
        self.listen = tuple(listen)
        self._endpoints = [parse_listen(text) for text in self.listen]
        self.render = render
        self.limits = limits or Limits()
        self.title = title
        self.counters: Counter[str] = Counter()
        self._web = web_config
        self._auth = BasicAuth(dict(web_config.users)) if web_config.users else None
        self._generation = 0
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: dict[asyncio.Task, _Connection] = {}  # counted in the limit
        self._tasks: set[asyncio.Task] = set()  # every connection task, evicted ones too
        self._closing = False
        self._renders: dict[tuple[bool, bool], asyncio.Task] = {}
        self._landing = self._landing_page()

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.StreamReaderProtocol:
            reader = asyncio.StreamReader(limit=self.limits.max_head_bytes, loop=loop)
            return _PausedStreamProtocol(reader, self._serve, loop=loop)

        try:
            for text, (host, port) in zip(self.listen, self._endpoints, strict=True):
                try:
                    server = await loop.create_server(protocol, host, port, backlog=BACKLOG,
                                                      reuse_address=True)
                except OSError as exc:
                    raise ExporterError(
                        f"cannot listen on {text}: {exc.strerror or exc}",
                        hint="is another program using that port? choose another address",
                    ) from None
                self._servers.append(server)
        except BaseException:
            await self.close()
            raise
        log.info("exporter: serving %s on %s", "HTTPS" if self._web.tls else "HTTP",
                 ", ".join(self.listen))

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(address, port) of every listening socket (the real port when 0 was asked)."""
        return [sock.getsockname()[:2] for server in self._servers for sock in server.sockets]

    def reconfigure(self, web_config: WebConfig) -> None:
        """New settings from a reloaded web-config: users and headers at the next request;
        TLS for new connections, and connections made under the old TLS settings close
        (idle ones now, busy ones after their response)."""
        old = self._web
        self._web = web_config
        self._auth = BasicAuth(dict(web_config.users)) if web_config.users else None
        tls_changed = old.tls != web_config.tls or (
            old.tls is not None and web_config.tls is not None
            and old.tls.context is not web_config.tls.context)  # fmt: skip
        if tls_changed:
            self._generation += 1
            for connection in list(self._connections.values()):
                if not connection.busy:
                    connection.transport.abort()

    async def close(self) -> None:
        self._closing = True
        for server in self._servers:
            server.close()
        while self._tasks:
            for connection in self._connections.values():
                connection.transport.abort()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers = []
        for task in self._renders.values():
            task.cancel()

    # -- connections -----------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            if self._closing:
                writer.transport.abort()
                return
            await self._connection(reader, writer)
        except asyncio.CancelledError:
            # close() ends connections so; the task is ours alone (and Python 3.11's stream
            # code would log a cancelled connection task as an error).
            writer.transport.abort()
        finally:
            self._tasks.discard(task)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        web = self._web
        self.counters["connections_accepted"] += 1
        if not self._make_room():
            self.counters["connections_rejected"] += 1
            if web.tls is None:
                writer.write(self._encode(_Response(503, b"Too many connections\n", close=True),
                                          head_only=False, request=None))
                writer.close()
            else:
                writer.transport.abort()
            return
        connection = _Connection(task, writer.transport, self._generation, loop.time())
        self._connections[task] = connection
        try:
            if web.tls is not None:
                writer.transport.get_protocol().tls = True
                try:
                    await writer.start_tls(web.tls.context,
                                           ssl_handshake_timeout=self.limits.handshake_seconds)
                except (OSError, ssl.SSLError, TimeoutError) as exc:
                    self.counters["tls_handshake_failures"] += 1
                    log.debug("exporter: TLS handshake failed: %s", exc)
                    return
                connection.transport = writer.transport
            else:
                writer.transport.resume_reading()
            await self._requests(connection, reader, writer)
        except (ConnectionError, TimeoutError) as exc:
            log.debug("exporter: client went away: %s", exc)
        except OSError as exc:
            log.debug("exporter: connection failed: %s", exc)
        except Exception:  # a bug in one answer must not end the server
            self.counters["internal_errors"] += 1
            log.exception("exporter: request failed")
        finally:
            self._connections.pop(task, None)
            await _close(writer)

    def _make_room(self) -> bool:
        """True if one more connection fits, after closing the one idle the longest if need be."""
        if len(self._connections) < self.limits.max_connections:
            return True
        idle = [c for c in self._connections.values() if not c.busy]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.idle_since)
        del self._connections[oldest.task]
        oldest.transport.abort()  # its reader sees the end; its task finishes by itself
        self.counters["connections_evicted"] += 1
        return True

    async def _requests(self, connection: _Connection, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:  # fmt: skip
        loop = asyncio.get_running_loop()
        while True:
            connection.busy = False
            connection.idle_since = loop.time()
            request = await self._read_request(connection, reader)
            if request is None:
                return
            self.counters["requests"] += 1
            if isinstance(request, _Response):
                response, head_only, parsed = request, False, None
            else:
                response = await self._respond(request)
                head_only, parsed = request.method == "HEAD", request
            try:
                async with asyncio.timeout(self.limits.write_seconds):
                    await self._send(writer, self._encode(response, head_only, parsed),
                                     b"" if head_only else response.body)
            except TimeoutError:
                self.counters["write_timeouts"] += 1
                return
            if response.close or connection.generation != self._generation:
                return

    async def _read_request(self, connection: _Connection,
                            reader: asyncio.StreamReader) -> _Request | _Response | None:
        """The next request, an error response for a bad one, or None when the client is
        gone or idle too long."""
        try:
            async with asyncio.timeout(self.limits.idle_seconds):
                first = await reader.read(1)
        except TimeoutError:
            return None
        if not first:
            return None
        connection.busy = True
        try:
            async with asyncio.timeout(self.limits.head_seconds):
                head = first + await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            return self._refuse("request_timeouts", 408, "request head not complete within "
                                f"{self.limits.head_seconds:g} s")
        except asyncio.LimitOverrunError:
            return self._refuse("requests_too_large", 431, "request head larger than "
                                f"{self.limits.max_head_bytes} bytes")
        except asyncio.IncompleteReadError:
            self.counters["requests_incomplete"] += 1
            return None
        return self._parse(head)

    def _refuse(self, counter: str, status: int, why: str) -> _Response:
        self.counters[counter] += 1
        log.debug("exporter: refused a request: %s", why)
        return _Response(status, why.encode() + b"\n", close=True)

    def _parse(self, head: bytes) -> _Request | _Response:
        lines = head[:-4].lstrip(b"\r\n").split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            return self._refuse("bad_requests", 400, "malformed request line")
        method, target, version = parts
        match = _VERSION.match(version)
        if match is None:
            return self._refuse("bad_requests", 400, "malformed HTTP version")
        if match[1] != b"1":
            return self._refuse("bad_requests", 505, "only HTTP/1.x is served")
        if not _TOKEN.match(method) or not _TARGET.match(target):
            return self._refuse("bad_requests", 400, "malformed method or target")
        if len(lines) - 1 > self.limits.max_headers:
            return self._refuse("requests_too_large", 431, "too many header fields")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.match(name) or b"\r" in value or b"\n" in value \
                    or b"\0" in value:
                return self._refuse("bad_requests", 400, "malformed header field")
            key = name.decode("ascii").lower()
            text = value.strip(b" \t").decode("latin-1")
            if key in headers:
                if key in ("authorization", "content-length", "host"):
                    return self._refuse("bad_requests", 400, f"repeated {key} header")
                text = f"{headers[key]}, {text}"
            headers[key] = text
        length = headers.get("content-length", "0")
        if not length.isdigit():
            return self._refuse("bad_requests", 400, "malformed Content-Length")
        has_body = int(length) > 0 or "transfer-encoding" in headers
        http10 = match[2] == b"0"
        tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        keep_alive = "keep-alive" in tokens if http10 else "close" not in tokens
        target_text = target.decode("ascii")
        if target_text.startswith("/"):
            path = target_text.split("?", 1)[0]
        elif target_text.startswith(("http://", "https://")):
            path = urlsplit(target_text).path or "/"
        else:
            return self._refuse("bad_requests", 400, "request target is not a path")
        return _Request(method.decode("ascii"), path, headers, keep_alive, http10, has_body)

    # -- answers ---------------------------------------------------------------

    async def _respond(self, request: _Request) -> _Response:
        response = await self._route(request)
        if request.has_body or not request.keep_alive:
            response.close = True  # an unread body would be taken for the next request
        return response

    async def _route(self, request: _Request) -> _Response:
        auth = self._auth
        if auth is not None and request.path not in self._web.auth_excluded_paths:
            header = request.headers.get("authorization")
            verdict = auth.cached(header)
            if verdict is None:
                verdict = await asyncio.to_thread(auth.check, header)
            if not verdict:
                self.counters["unauthorized"] += 1
                return _Response(401, b"Unauthorized\n", headers=[
                    ("WWW-Authenticate", f'Basic realm="{self.title}", charset="UTF-8"')])
        if request.path not in (LANDING_PATH, METRICS_PATH, HEALTH_PATH):
            self.counters["not_found"] += 1
            return _Response(404, b"Not Found\n")
        if request.method not in METHODS:
            self.counters["method_not_allowed"] += 1
            return _Response(405, b"Method Not Allowed\n", headers=[("Allow", "GET, HEAD")])
        if request.has_body:
            return self._refuse("bad_requests", 400, f"{request.method} takes no body")
        if request.path == HEALTH_PATH:
            return _Response(200, b"OK\n")
        if request.path == LANDING_PATH:
            return _Response(200, self._landing, "text/html; charset=utf-8")
        return await self._metrics(request)

    async def _metrics(self, request: _Request) -> _Response:
        openmetrics = wants_openmetrics(request.headers.get("accept"))
        gzipped = gzip_accepted(request.headers.get("accept-encoding"))
        self.counters["scrapes"] += 1
        try:
            body = await self._rendered(openmetrics, gzipped)
        except Exception:
            self.counters["render_errors"] += 1
            log.exception("exporter: rendering the metrics failed")
            return _Response(500, b"rendering the metrics failed: see the daemon's log\n")
        headers = [("Vary", "Accept, Accept-Encoding")]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        return _Response(200, body, content_type(openmetrics), headers)

    async def _rendered(self, openmetrics: bool, gzipped: bool) -> bytes:
        """The body for this format, from the render running now if there is one."""
        key = (openmetrics, gzipped)
        task = self._renders.get(key)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(self._render, openmetrics, gzipped))
            self._renders[key] = task
            task.add_done_callback(lambda done: self._rendered_done(key, done))
        return await asyncio.shield(task)

    def _rendered_done(self, key: tuple[bool, bool], task: asyncio.Task) -> None:
        if self._renders.get(key) is task:
            del self._renders[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter gets it, even if all went away

    def _render(self, openmetrics: bool, gzipped: bool) -> bytes:
        """Runs in a worker thread."""
        body = self.render(openmetrics)
        if not isinstance(body, bytes):
            raise TypeError(f"render returned {type(body).__name__}, not bytes")
        return gzip.compress(body, GZIP_LEVEL, mtime=0) if gzipped else body

    def _encode(self, response: _Response, head_only: bool, request: _Request | None) -> bytes:
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS[response.status]}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines += [f"{name}: {value}" for name, value in self._web.headers]
        if response.close:
            lines.append("Connection: close")
        elif request is not None and request.http10:
            lines.append("Connection: keep-alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(self, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> None:
        """Head and body in pieces, back to the loop after each: encrypting or copying a
        large body must not hold it."""
        if len(body) <= WRITE_CHUNK_BYTES:
            writer.write(head + body)
            await writer.drain()
            return
        writer.write(head)
        view = memoryview(body)
        for start in range(0, len(body), WRITE_CHUNK_BYTES):
            writer.write(view[start: start + WRITE_CHUNK_BYTES])
            await writer.drain()
            await asyncio.sleep(0)

    def _landing_page(self) -> bytes:
        title = escape(self.title)
        return (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{title} exporter</title></head>\n<body>\n<h1>{title} exporter</h1>\n"
            f"<p>lvsmon {escape(__version__)}: keepalived VRRP and LVS/IPVS metrics.</p>\n"
            f"<ul>\n<li><a href=\"{METRICS_PATH[1:]}\">Metrics</a></li>\n"
            f"<li><a href=\"{HEALTH_PATH[1:]}\">Health</a></li>\n</ul>\n</body></html>\n"
        ).encode()


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close gracefully (what is buffered still goes out, TLS says goodbye), briefly."""
    writer.close()
    try:
        async with asyncio.timeout(5.0):
            await writer.wait_closed()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
    except Exception:  # noqa: BLE001 - closing regardless
        writer.transport.abort()
