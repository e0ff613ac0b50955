"""Network namespaces: create, run commands in, spawn daemons in, and remove with all inside.

A named namespace is a bind mount of the kernel's namespace file on /run/netns/NAME
(made by `ip netns add`, removed by `ip netns del`). Deleting the name does not free a
namespace that still has processes in it, so removal kills those processes first.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CommandError, LabError
from .naming import check_ifname, is_running
from .process import Process
from .waiting import wait_for

if TYPE_CHECKING:
    from .lab import Lab

NETNS_DIR = Path("/run/netns")
COMMAND_TIMEOUT = 30.0

# Set in every new namespace before any interface exists, so new links inherit them:
# IPv6 addresses are usable at once (no duplicate address detection wait).
_NEW_NAMESPACE_SYSCTLS = {
    "net.ipv6.conf.all.accept_dad": 0,
    "net.ipv6.conf.default.accept_dad": 0,
}


def run_argv(argv: list[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT,
             input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command, capture text output; on failure (with check) raise CommandError.

    `env` holds variables added to (not replacing) the environment.
    """
    try:
        stdin = subprocess.DEVNULL if input is None else None  # never the test's terminal
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, stdin=stdin, env=merged_env(env))
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"command {argv!r} did not finish in {timeout} s") from exc
    except FileNotFoundError as exc:
        raise LabError(f"command {argv[0]!r} not found: install it") from exc
    if check and done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stdout, done.stderr)
    return done


def merged_env(extra: dict | None) -> dict | None:
    return None if extra is None else {**os.environ, **{k: str(v) for k, v in extra.items()}}


def ip_version(address: str) -> int:
    return ipaddress.ip_interface(address).version


def as_list(addresses: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if addresses is None:
        return []
    return [addresses] if isinstance(addresses, str) else list(addresses)


class Namespace:
    """One network namespace of a lab. `name` is the real netns name, `short` the lab's."""

    def __init__(self, lab: Lab, short: str, name: str):
        self.lab = lab
        self.short = short
        self.name = name
        self.path = NETNS_DIR / name
        self._ifnames: set[str] = set()

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"

    # -- running things -------------------------------------------------------

    def exec_argv(self, argv: list[str]) -> list[str]:
        """The argv that runs `argv` inside this namespace (for callers that run it themselves)."""
        return ["ip", "netns", "exec", self.name, *[str(arg) for arg in argv]]

    def run(self, argv: list[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT,
            input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run a command in the namespace and wait for it; text stdout/stderr captured."""
        return run_argv(self.exec_argv(argv), check=check, timeout=timeout, input=input, env=env)

    def ip(self, *args: str) -> subprocess.CompletedProcess:
        """`ip -n NAME ARGS...`: iproute2 acting on this namespace."""
        return run_argv(["ip", "-n", self.name, *[str(arg) for arg in args]])

    def ping(self, address: str, count: int = 1,
             timeout: float = 2.0) -> subprocess.CompletedProcess:
        """Ping from here (IPv4 or IPv6); raise CommandError unless a reply came back."""
        return self.run([*_ping_program(), "-c", str(count), "-W", f"{timeout:g}", address],
                        timeout=timeout * count + 5)

    def sysctl(self, key: str, value: object) -> None:
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def spawn(self, argv: list[str], *, name: str | None = None,
              env: dict | None = None) -> Process:
        """Start `argv` in the background here; output goes to a log file in lab.tmpdir.

        The lab stops it on exit; call .stop() to stop it earlier. `env` holds variables
        added to the environment.
        """
        base = name or f"{self.short}-{Path(str(argv[0])).name}"
        return self.lab._start_process(base, self.exec_argv(argv), merged_env(env))

    # -- addresses and links --------------------------------------------------

    def add_address(self, ifname: str, address: str) -> None:
        """Add "ADDR/PREFIX" to an interface; IPv6 without duplicate address detection."""
        extra = ["nodad"] if ip_version(address) == 6 else []
        self.ip("addr", "add", address, "dev", ifname, *extra)

    def link_up(self, ifname: str) -> None:
        self.ip("link", "set", "dev", ifname, "up")

    def wait_link_up(self, ifname: str, timeout: float = 5.0) -> None:
        """Wait until the kernel reports the link operationally UP.

        Asking over netlink also makes the kernel apply a pending carrier change at once
        (linkwatch), instead of up to a second later: without it the first IPv6 neighbour
        solicitation on a fresh veth is dropped and the first ping takes 1 s.
        """
        def operstate() -> bool:
            return json.loads(self.ip("-j", "link", "show", "dev", ifname).stdout)[0][
                "operstate"] == "UP"

        wait_for(operstate, timeout, what=f"link {ifname} up in {self.name}", interval=0.02)

    def addresses(self, ifname: str | None = None) -> list[str]:
        """Addresses as "ADDR/PREFIX" (from `ip -j addr`), of one interface or all."""
        argv = ["-j", "addr", "show"] + (["dev", ifname] if ifname else [])
        found = []
        for link in json.loads(self.ip(*argv).stdout or "[]"):
            for info in link.get("addr_info", []):
                found.append(f"{info['local']}/{info['prefixlen']}")
        return found

    def has_address(self, address: str) -> bool:
        """True if ADDR (prefix length ignored) is on any interface here."""
        wanted = ipaddress.ip_interface(address).ip
        return any(ipaddress.ip_interface(have).ip == wanted for have in self.addresses())

    def interface_name(self, wanted: str | None, default: str) -> str:
        """Reserve an interface name here: `wanted` as is, else `default` made unique."""
        if wanted is not None:
            name = check_ifname(wanted)
            if name in self._ifnames:
                raise LabError(f"{self.name} already has an interface {name!r}")
        else:
            stem = default[:15]
            name, counter = stem, 1
            while name in self._ifnames:
                counter += 1
                suffix = str(counter)
                name = stem[: 15 - len(suffix)] + suffix
            check_ifname(name)
        self._ifnames.add(name)
        return name

    def configure_link(self, ifname: str, addresses: str | list[str] | None) -> None:
        for address in as_list(addresses):
            self.add_address(ifname, address)
        self.link_up(ifname)


def _ping_program() -> list[str]:
    # iputils ping if installed, else the busybox-static one (a package the lab needs anyway).
    if shutil.which("ping"):
        return ["ping"]
    if shutil.which("busybox"):
        return ["busybox", "ping"]
    raise LabError("no ping: install iputils-ping or busybox-static")


def create_namespace(name: str) -> None:
    run_argv(["ip", "netns", "add", name])
    try:
        pairs = [f"{key}={value}" for key, value in _NEW_NAMESPACE_SYSCTLS.items()]
        run_argv(["ip", "netns", "exec", name, "sysctl", "-q", "-w", *pairs])
        run_argv(["ip", "-n", name, "link", "set", "dev", "lo", "up"])
    except LabError:
        delete_namespace(name)
        raise


def pids_in_namespace(name: str) -> list[int]:
    """Running processes whose network namespace is the named one (like `ip netns pids`)."""
    try:
        target = os.stat(NETNS_DIR / name)
    except FileNotFoundError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:  # gone, or a zombie (it has no namespaces left)
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            pids.append(int(entry))
    return pids


def kill_namespace_processes(name: str, timeout: float = 5.0) -> None:
    """SIGKILL everything inside the namespace and wait until it is gone."""
    deadline = time.monotonic() + timeout
    while pids := [pid for pid in pids_in_namespace(name) if is_running(pid)]:
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} in namespace {name} survive SIGKILL")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def delete_namespace(name: str) -> None:
    """Kill the processes inside, then remove the name (its links and bridges go with it)."""
    kill_namespace_processes(name)
    if (NETNS_DIR / name).exists():
        run_argv(["ip", "netns", "del", name])
