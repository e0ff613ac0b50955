"""Test lab: network namespaces joined by veth pairs and bridges, with real daemons inside.

    from tests.lab import Lab

    with Lab() as lab:                        # first removes leftovers of dead runs
        director = lab.namespace("director")  # netns "lvsmt<pid>-director", lo up, no IPv6 DAD
        client = lab.namespace("client")
        lab.veth(client, director, "10.10.1.2/24", ["10.10.1.1/24", "fd00::1/64"])
        seg = lab.segment("lan0")             # bridge "lan0" in hub namespace "seg-lan0"
        a = lab.namespace("a")
        seg.attach(a, "10.20.0.11/24", ifname="eth0")
        client.run(["ip", "route", "add", "default", "via", "10.10.1.1"])  # CommandError on failure
        director.sysctl("net.ipv4.ip_forward", 1)
        ka = director.spawn(["keepalived", "-n", "-l", "-f", conf], name="keepalived-a")
        lab.wait_for(lambda: director.has_address("10.20.0.100"), 10, what="VIP on director")
        print(ka.log_tail())                  # log file under lab.tmpdir

- Every name starts with "lvsmt<pid>-"; nothing is ever created in the root namespace
  (veth ends are born inside their namespaces).
- Namespace: run(argv, check=True) -> CompletedProcess (text; CommandError carries stderr);
  exec_argv(argv) -> ["ip", "netns", "exec", name, *argv]; ip(*args) runs `ip -n name ...`;
  sysctl(key, value); ping(addr); spawn(argv, name=, env=) -> Process; addresses(ifname=None),
  has_address(addr). `env` arguments add to the environment.
- lab.veth() returns Veth(a, a_ifname, b, b_ifname); default names are "to-<peer short>".
  Links are up (and the kernel agrees) when these return. Segment.attach(ns, addresses,
  ifname="eth0") returns the interface name; the bridge has STP and multicast snooping off.
- Process: pid, alive, returncode, log(), log_tail(), describe() (for assertion messages),
  check_running(), wait(), stop() (SIGTERM the process group, SIGKILL after a timeout).
- lab.wait_for(predicate, timeout, what=) returns the first truthy result; WaitTimeout shows
  the last result or exception and the logs of processes that exited meanwhile.
- On exit, even after an exception: stop processes, run lab.defer() callbacks, kill what is
  left inside the namespaces, delete them, remove lab.tmpdir (kept if LVSMON_KEEP_LAB=1).
- If the test process is killed: spawned processes get SIGKILL (PR_SET_PDEATHSIG) and a
  watchdog process (tests.lab.watchdog) removes the run's namespaces and temp dir at once.
  Lab() and tests/conftest.py also call remove_stale(): leftovers whose creator pid is dead.
- No pytest here: the library also runs inside the qemu guest. tests/conftest.py has the fixture.
"""

from .cleanup import remove_stale
from .errors import CommandError, LabError, WaitTimeout
from .lab import Lab
from .links import Segment, Veth
from .netns import Namespace
from .process import Process
from .waiting import wait_for

__all__ = [
    "CommandError",
    "Lab",
    "LabError",
    "Namespace",
    "Process",
    "Segment",
    "Veth",
    "WaitTimeout",
    "remove_stale",
    "wait_for",
]
