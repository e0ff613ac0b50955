"""Demo inside the IPVS guest: build the topology, make traffic, show `lvsmon ipvs`.

Run from the host (boots the guest, ~1 minute under TCG):

    .venv/bin/python -m tests.vm.qemu -- .venv/bin/python -m tests.vm.guest.demo

lvsmon runs in the director namespace, where the IPVS table lives (IPVS tables are per
network namespace), as the project's own .venv entry point.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.vm.guest.topology import ipvs_topology

REPO = Path(__file__).resolve().parents[3]
LVSMON = REPO / ".venv/bin/lvsmon"
WARMUP_SECONDS = 7.0  # a few 2 s ticks of the kernel's rate estimator, so rates show
TRAFFIC_SECONDS = 60.0  # upper bound; the generators are stopped when the demo is done
TRAFFIC_SERVICES = ("nat", "nat6", "fwm")
STARTED = time.monotonic()


def banner(text: str) -> None:
    print(f"\n=== {text}   [{time.monotonic() - STARTED:.0f} s] ===", flush=True)


def show(topo, *args: str) -> int:
    argv = [str(LVSMON), "ipvs", *args]
    banner(f"lvsmon {' '.join(argv[1:])}   (in namespace {topo.director.name})")
    done = subprocess.run(topo.director.exec_argv(argv), text=True, capture_output=True,
                          check=False)
    sys.stdout.write(done.stdout)
    sys.stdout.write(done.stderr)
    if done.returncode:
        print(f"(lvsmon exited {done.returncode})")
    return done.returncode


def main() -> int:
    if os.environ.get("LVSMON_IN_GUEST") != "1":
        print("demo: run me inside the IPVS guest: "
              "python -m tests.vm.qemu -- .venv/bin/python -m tests.vm.guest.demo",
              file=sys.stderr)
        return 2
    banner("building: director, client, 3 real servers, 9 IPVS services (ipvsadm)")
    with ipvs_topology(traffic=False) as topo:
        banner(f"traffic from the client to {', '.join(TRAFFIC_SERVICES)}, "
               f"and some UDP; {WARMUP_SECONDS:g} s warm-up for the rate estimator")
        generators = [topo.start_traffic(name, TRAFFIC_SECONDS) for name in TRAFFIC_SERVICES]
        topo.send_udp("udp", 20)
        time.sleep(WARMUP_SECONDS)
        banner("ipvsadm -Ln (the kernel's own tool, for comparison)")
        print(topo.ipvsadm("-Ln"), end="")
        failures = 0
        for args in (["--stats"], ["--rate"]):  # while the traffic still flows
            failures += show(topo, *args) != 0
        for generator in generators:
            generator.stop()
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
