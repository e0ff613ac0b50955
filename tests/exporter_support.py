"""Test helpers for the exporter's HTTP server: certificates made with the openssl command, a
server running in its own event loop thread, bcrypt hashes made by htpasswd (Apache's own
bcrypt, independent of the libcrypt lvsmon checks them with)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from lvsmon_exporter.http_server import Limits, MetricsServer
from lvsmon_exporter.web_config import PLAIN_HTTP, WebConfig


@dataclass(frozen=True)
class Certs:
    directory: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA the server does not trust ...
    stranger_cert: Path  # ... and a client certificate it signed
    stranger_key: Path


def make_certs(directory: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1, ::1 and localhost, a client certificate, and a
    client certificate from another CA; P-256 keys, valid for two days."""
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True,
                       timeout=60)  # fmt: skip

    def ca(name: str) -> None:
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN=lvsmon test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip

    def leaf(name: str, issuer: str, subject: str, extensions: str) -> None:
        (directory / f"{name}.ext").write_text(extensions + "basicConstraints=CA:FALSE\n")
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={subject}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.crt", "-CAkey",
            f"{issuer}.key", "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
            "-extfile", f"{name}.ext")  # fmt: skip

    ca("ca")
    ca("other-ca")
    leaf("server", "ca", "127.0.0.1", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
                                      "extendedKeyUsage=serverAuth\n")
    leaf("client", "ca", "prometheus", "extendedKeyUsage=clientAuth\n")
    leaf("stranger", "other-ca", "stranger", "extendedKeyUsage=clientAuth\n")
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return Certs(directory, directory / "ca.crt", directory / "server.crt",
                 directory / "server.key", directory / "client.crt", directory / "client.key",
                 directory / "other-ca.crt", directory / "stranger.crt",
                 directory / "stranger.key")  # fmt: skip


def htpasswd_hash(user: str, password: str, cost: int = 5) -> str:
    """A bcrypt hash from Apache's htpasswd ($2y$)."""
    out = subprocess.run(["htpasswd", "-nbBC", str(cost), user, password], check=True,
                         capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    return out.strip().split(":", 1)[1]


def htpasswd_missing() -> str | None:
    return None if shutil.which("htpasswd") else "needs htpasswd (Debian apache2-utils)"


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class ServerThread:
    """A MetricsServer in an event loop of its own thread, for tests with blocking clients.

        with ServerThread(render, web_config, listen=["127.0.0.1:0"]) as server:
            server.port, server.counters, server.call(server.server.reconfigure, new)
    """

    def __init__(self, render, web_config: WebConfig = PLAIN_HTTP, *,
                 listen: list[str] | None = None, limits: Limits | None = None) -> None:
        self.server = MetricsServer(listen or ["127.0.0.1:0"], render, web_config,
                                    limits=limits)  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                         name="exporter-test-loop")  # fmt: skip

    def __enter__(self) -> ServerThread:
        self._thread.start()
        try:
            self.run(self.server.start())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.run(self.server.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def run(self, coroutine, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function, *args):
        async def call():
            return function(*args)

        return self.run(call())

    @property
    def port(self) -> int:
        return self.server.addresses[0][1]

    @property
    def counters(self) -> dict[str, int]:
        return self.call(lambda: dict(self.server.counters))
