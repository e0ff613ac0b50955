"""`make demo-shell`: the tour's site kept up, with a shell in the guest to look around.

Run from the host (tests/vm/qemu.py --terminal gives the guest a second serial port on
this terminal; --forward plugs qemu's user networking, restricted, into the guest):

    .venv/bin/python -m tests.vm.qemu --terminal --memory 2048 --timeout 14400 \\
        --forward 10573:10573 --forward 10574:10574 --forward 9090:9090 -- \\
        .venv/bin/python -m tests.vm.guest.shell

In the guest, the NIC qemu adds gets 10.0.2.15/24 and no route: with `restrict=on` qemu
forwards only the host's connections to the listed ports and lets nothing out. Each port
is relayed from there into the site's namespaces (lb1's and lb2's exporters, the monitor's
Prometheus). The shell runs on the second serial port (/dev/ttyS1); leaving it (exit or
Ctrl-D) tears the site down and powers the guest off.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.lab.netns import NETNS_DIR, run_argv
from tests.vm.guest.site import EXPORTER_PORT, Site, build_site

TERMINAL = "/dev/ttyS1"
GUEST_ADDRESS = "10.0.2.15"  # qemu user networking's guest address
HOST_ADDRESS = "10.0.2.2"  # where qemu's user networking puts the host (refused: restrict=on)
# test_tour runs with this network when tests/vm/test_guest_suite.py boots it with a forward:
FORWARD_ENV = "LVSMON_TOUR_FORWARD"  # "1": the guest has a NIC and lb1's exporter is relayed
HOST_LISTENER_ENV = "LVSMON_TOUR_HOST_LISTENER"  # a port of the host the guest must not reach
PROMETHEUS_PORT = 9090
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def socket_in(namespace: str) -> socket.socket:
    """A TCP socket of the named network namespace, made by a short-lived thread that
    enters it (setns changes the calling thread only; the socket keeps its namespace)."""
    made: dict = {}

    def make() -> None:
        fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                made["error"] = OSError(ctypes.get_errno(), f"setns {namespace}")
                return
            made["socket"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            os.close(fd)

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]
    return made["socket"]


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def relay(port: int, namespace: str, target: tuple[str, int]) -> None:
    """Accept on GUEST_ADDRESS:port (the guest's root namespace); connect each client to
    target inside the namespace; copy both ways. Runs in daemon threads until exit."""
    listener = socket.create_server((GUEST_ADDRESS, port))

    def serve(client: socket.socket) -> None:
        upstream = socket_in(namespace)
        try:
            upstream.connect(target)
        except OSError:
            client.close()
            upstream.close()
            return
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def accept() -> None:
        while True:
            client, _ = listener.accept()
            threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def bring_up_nic() -> str:
    """The NIC qemu added: GUEST_ADDRESS/24, up, and no route beyond that subnet."""
    run_argv(["modprobe", "virtio_net"], check=False)
    # Only a device with a driver: the tunnel modules the guest loads (ipip, ip6_tunnel)
    # add tunl0 and ip6tnl0 to every namespace, and those have no device.
    links = Path("/sys/class/net")
    names = sorted(p.name for p in links.iterdir() if (p / "device" / "driver").exists())
    if not names:
        raise SystemExit("shell: no NIC in the guest (start it with tests.vm.qemu --forward)")
    nic = names[0]
    run_argv(["ip", "addr", "add", f"{GUEST_ADDRESS}/24", "dev", nic])
    run_argv(["ip", "link", "set", nic, "up"])
    return nic


def instructions(site: Site) -> str:
    names = "  ".join(f"{short}={ns.name}" for short, ns in site.lab.namespaces.items()
                      if not short.startswith("seg-"))
    lb1 = site.lb1
    return f"""
The tour's site is up. From the host (loopback only):
  curl -s http://127.0.0.1:{EXPORTER_PORT}/metrics | grep lvsmon_vrrp    lb1's exporter
  curl -s http://127.0.0.1:{EXPORTER_PORT + 1}/metrics                    lb2's exporter
  http://127.0.0.1:{PROMETHEUS_PORT}/alerts           Prometheus, with the shipped rules

In this shell (the guest; each machine of the site is a network namespace):
  {names}
  ip netns exec {lb1.ns.name} {sys.prefix}/bin/lvsmon status --socket {lb1.status_socket}
  ip netns exec {lb1.ns.name} ipvsadm -Ln --stats
  ip netns exec {lb1.ns.name} {sys.prefix}/bin/lvsmon keepalived diff --config {lb1.keepalived_conf}
  ip netns exec {lb1.ns.name} {sys.prefix}/bin/lvsmon snat log --store {lb1.snat_store}
  kill -9 $(cat {lb1.keepalived_conf.with_suffix('.pid')})      a failover
Logs of every daemon: {site.lab.tmpdir}/*.log. Leave the shell (exit) to tear it all down.
"""


def main() -> int:
    if os.environ.get("LVSMON_IN_GUEST") != "1" or not Path(TERMINAL).exists():
        print("shell: run me inside the IPVS guest with a terminal: make demo-shell",
              file=sys.stderr)
        return 2
    bring_up_nic()
    print("building the tour's site (a minute or two) ...", flush=True)
    with build_site() as site:
        relay(EXPORTER_PORT, site.lb1.ns.name, (site.lb1.back, EXPORTER_PORT))
        relay(EXPORTER_PORT + 1, site.lb2.ns.name, (site.lb2.back, EXPORTER_PORT))
        relay(PROMETHEUS_PORT, site.monitor.name, ("127.0.0.1", PROMETHEUS_PORT))
        text = instructions(site)
        # Only on the terminal: the host prints this command's output on it too.
        with open(TERMINAL, "r+b", buffering=0) as tty:
            tty.write(text.replace("\n", "\r\n").encode())
            shell = subprocess.run(["setsid", "--ctty", "--wait", "bash", "-i"], stdin=tty,
                                   stdout=tty, stderr=tty, env={**os.environ, "TERM": "vt100",
                                                                "PS1": "lvsmon-demo# "},
                                   check=False)
        print(f"shell exited ({shell.returncode}); tearing the site down", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
