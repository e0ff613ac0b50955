"""Boot the IPVS test guest and run the tests of tests/vm/guest inside it.

The long scenarios (keepalived with its checkers, the AgentX tables, the tour) each get a boot
of their own, so each has its own time limit and a slow one cannot starve the rest; every
other test file shares one boot (a boot with pytest's start costs some 20 s under TCG).
The tour's boot also has make demo-shell's network (ForwardProbe): its forward to the guest
and its restriction are checked from here, with no boot of their own.
"""

import contextlib
import http.client
import os
import shlex
import socket
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.vm.guest.shell import FORWARD_ENV, HOST_LISTENER_ENV
from tests.vm.guest.site import EXPORTER_PORT
from tests.vm.qemu import REPO, run_in_guest

pytestmark = pytest.mark.vm

GUEST_TESTS = Path(__file__).parent / "guest"
# Files that run in a boot of their own; a file not listed here joins the shared boot.
OWN_BOOT = ("test_keepalived_drift.py", "test_drain_hold.py", "test_agentx_ipvs.py",
            "test_tour.py")
TIMEOUT_SECONDS = 1200  # per boot; a quiet machine needs a third of it
MEMORY_MIB = {"test_tour": 2048}  # two directors, each with snmpd, Prometheus on a monitor
FORWARDED = ("test_tour",)  # boots with make demo-shell's network, checked from here


class ForwardProbe:
    """make demo-shell's network, checked from the host while the tour's guest runs: qemu
    forwards a free port of the host's loopback to lb1's exporter (test_tour relays it), a
    thread scrapes it until lvsmon's metrics come back, and a listener on the host's loopback
    counts the guest's connections (qemu's restrict=on must let none through)."""

    def __init__(self):
        self.port = _free_port()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.5)
        self.scraped = b""  # the first /metrics answer with lvsmon's VRRP metrics
        self.bound: list[str] = []  # the forward's listening addresses on the host
        self.from_guest: list[tuple] = []  # connections the listener accepted
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._scrape, daemon=True),
                         threading.Thread(target=self._accept, daemon=True)]

    @property
    def forwards(self) -> tuple[tuple[int, int], ...]:
        return ((self.port, EXPORTER_PORT),)

    @property
    def env(self) -> dict[str, str]:
        return {FORWARD_ENV: "1", HOST_LISTENER_ENV: str(self.listener.getsockname()[1])}

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        for thread in self._threads:
            thread.join()
        self.listener.close()

    def _scrape(self) -> None:
        url = f"http://127.0.0.1:{self.port}/metrics"
        while not self._done.wait(2):
            # Until the guest's relay is up, qemu accepts and then drops the connection.
            with contextlib.suppress(OSError, http.client.HTTPException):
                with urllib.request.urlopen(url, timeout=10) as answer:
                    body = answer.read()
                if b"lvsmon_vrrp_masters" in body:
                    self.scraped, self.bound = body, listening_addresses(self.port)
                    return

    def _accept(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(TimeoutError):
                client, peer = self.listener.accept()
                self.from_guest.append(peer)
                client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_addresses(port: int) -> list[str]:
    """The local addresses of the host's listening TCP sockets on port, per /proc/net."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # /proc prints the address as host-order 32-bit words
                words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
                found.append(socket.inet_ntop(socket.AF_INET if len(raw) == 4
                                              else socket.AF_INET6, b"".join(words)))
    return found


def _groups() -> dict[str, list[str]]:
    files = sorted(path.name for path in GUEST_TESTS.glob("test_*.py"))
    groups = {"ipvs": [name for name in files if name not in OWN_BOOT]}
    groups.update({name.removesuffix(".py"): [name] for name in files if name in OWN_BOOT})
    return groups


GROUPS = _groups()


@pytest.mark.skipif(os.environ.get("LVSMON_IN_GUEST") == "1", reason="already inside the guest")
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_guest_suite(group):
    # LVSMON_GUEST_PYTEST_ARGS narrows the guest run when debugging, e.g. "-k drain -x".
    extra = shlex.split(os.environ.get("LVSMON_GUEST_PYTEST_ARGS", ""))
    # The hypothesis plugin alone costs ~7 s of start-up under TCG; @given works without it.
    argv = [sys.executable, "-m", "pytest", *(f"tests/vm/guest/{name}" for name in GROUPS[group]),
            "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    argv += extra
    with ForwardProbe() if group in FORWARDED else contextlib.nullcontext() as probe:
        result = run_in_guest(argv, timeout=TIMEOUT_SECONDS, cwd=REPO,
                              memory_mib=MEMORY_MIB.get(group, 1024),
                              env=probe.env if probe else None,
                              forwards=probe.forwards if probe else ())
    print(result.output)
    print(f"guest run {group}: exit {result.returncode} after {result.seconds:.1f} s, "
          "boot included")
    # 5: no test selected, when LVSMON_GUEST_PYTEST_ARGS narrows the run to another group
    ok = result.returncode == 0 or (extra and result.returncode == 5)
    assert ok, f"guest pytest exited {result.returncode}; its output:\n{result.output}"
    if probe and result.returncode == 0:
        assert probe.scraped, f"no lvsmon metrics through 127.0.0.1:{probe.port}"
        assert probe.bound == ["127.0.0.1"], f"the forward listened on {probe.bound}"
        assert probe.from_guest == [], f"the guest reached the host: {probe.from_guest}"
