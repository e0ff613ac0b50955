"""snmpbulkwalk of vrrpInstanceTable served by keepalived's own agent and by lvsmon, alternating.

Run as root from the repo root: `python -m benchmarks.agentx_compare [--instances 200]`.
Two lab namespaces, each alone on its own segment with its own snmpd (`master agentx`,
SNMPv2c on 127.0.0.1): in "ka", keepalived with its SNMP agent and N VRRP instances; in
"lv", `lvsmon run` with [agentx] and a participant of the same N instances (one VIP each,
advert interval 1 s). Both become master of every instance, then the walks alternate:
keepalived, lvsmon, keepalived, ... so that both see the same machine load.

Printed: varbinds per walk, each side's median varbinds per second, and lvsmon's rate as
a ratio of keepalived's (above 1: lvsmon faster); then the CPU each side's agent process
(keepalived with its children; lvsmon's daemon) and its snmpd used per varbind walked,
also net of what the agent uses when nobody walks (measured for 5 s before the walks).
Then the slowest single AgentX answer lvsmon gave during the run (its own measure, from a
request read to its answer written, reported over the status socket) and the slowest of
many single snmpget round trips through snmpd (a whole net-snmp process each) while the
daemon runs N instances.
The issue's figure for keepalived's agent: 5,000 varbinds of vrrpInstanceTable in about
0.44 s on this kind of machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.proc_cpu import tree_cpu_seconds
from tests.lab import Lab
from tests.lab.agentx_daemon import VRRP_INSTANCE_TABLE, AgentxDaemon
from tests.lab.keepalived import vrrp_instance
from tests.lab.keepalived_snmp import (
    COMMUNITY,
    MASTER_STATE,
    SNMP_PORT,
    TOOL_ENV,
    KeepalivedSnmp,
    parse_walk,
)
from tests.lab.snmp_lab import SnmpLab


def vip(vrid: int) -> str:
    return f"10.44.{vrid // 250}.{vrid % 250 + 1}/16"


def bulkwalk(namespace, repetitions: int) -> tuple[int, float]:
    """(varbinds, seconds) of one snmpbulkwalk of vrrpInstanceTable."""
    argv = ["snmpbulkwalk", "-v2c", "-c", COMMUNITY, "-On", "-Ob", "-Ox", "-t", "5", "-r", "0",
            f"-Cr{repetitions}", f"127.0.0.1:{SNMP_PORT}", VRRP_INSTANCE_TABLE]
    began = time.perf_counter()
    done = namespace.run(argv, env=TOOL_ENV, timeout=120)
    seconds = time.perf_counter() - began
    found = [oid for oid in parse_walk(done.stdout) if oid.startswith(VRRP_INSTANCE_TABLE + ".")]
    return len(found), seconds


QUIET_SECONDS = 5.0  # each agent's CPU while nobody walks, to subtract from its walks


def masters(walked: dict) -> int:
    state = f"{VRRP_INSTANCE_TABLE}.1.4."
    return sum(1 for oid, (_, value) in walked.items()
               if oid.startswith(state) and value == MASTER_STATE)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-repetitions", type=int, default=25, help="snmpbulkwalk -Cr")
    parser.add_argument("--gets", type=int, default=100, help="single snmpget round trips")
    args = parser.parse_args()
    count = args.instances

    with Lab() as lab:
        keepalived = KeepalivedSnmp(lab, [
            vrrp_instance(f"VI_{vrid}", vrid=vrid, priority=150, vips=[vip(vrid)])
            for vrid in range(1, count + 1)], addresses=("10.44.255.11/16",), segment="kaseg")
        keepalived.start()
        lv = lab.namespace("lv")
        lab.segment("lvseg").attach(lv, ["10.44.255.30/16"])
        snmp = SnmpLab(lab, lv)
        snmp.start()
        daemon = AgentxDaemon(lab, lv, snmp.agentx, participant=[
            {"name": f"lv{vrid}", "interface": "eth0", "vrid": vrid, "priority": 150,
             "advert_interval": 1, "vips": [vip(vrid)]} for vrid in range(1, count + 1)])
        daemon.start()
        daemon.wait_connected(60)
        lab.wait_for(lambda: masters(keepalived.walk(VRRP_INSTANCE_TABLE)) == count, 120,
                     what=f"keepalived master of {count} instances", interval=1.0)
        lab.wait_for(lambda: sum(1 for i in daemon.state().participant.snapshot.instances
                                 if i.state == "MASTER") == count, 120,
                     what=f"lvsmon master of {count} instances", interval=1.0)

        sides = {"keepalived": keepalived.ns, "lvsmon": lv}
        agents = {"keepalived": keepalived.keepalived.pid, "lvsmon": daemon.process.pid}
        snmpds = {"keepalived": keepalived.snmpd.pid, "lvsmon": snmp.snmpd.pid}
        idle = {name: tree_cpu_seconds(pid) for name, pid in agents.items()}
        time.sleep(QUIET_SECONDS)  # a measurement window, not a wait for a condition
        idle = {name: (tree_cpu_seconds(pid) - idle[name]) / QUIET_SECONDS
                for name, pid in agents.items()}  # fmt: skip
        sizes: dict[str, set[int]] = {name: set() for name in sides}
        rates: dict[str, list[float]] = {name: [] for name in sides}
        cpu = {name: [0.0, 0.0, 0.0, 0] for name in sides}  # agent, snmpd, seconds, varbinds
        for _ in range(args.rounds):
            for name, namespace in sides.items():
                agent, master = tree_cpu_seconds(agents[name]), tree_cpu_seconds(snmpds[name])
                varbinds, seconds = bulkwalk(namespace, args.max_repetitions)
                used = cpu[name]
                used[0] += tree_cpu_seconds(agents[name]) - agent
                used[1] += tree_cpu_seconds(snmpds[name]) - master
                used[2] += seconds
                used[3] += varbinds
                sizes[name].add(varbinds)
                rates[name].append(varbinds / seconds)
        for name in sides:
            rate = statistics.median(rates[name])
            size = max(sizes[name])
            print(f"{name:10} vrrpInstanceTable, {count} instances: {size} varbinds per walk "
                  f"(-Cr{args.max_repetitions}), {size / rate:.3f} s, {rate:,.0f} varbinds/s "
                  f"(median of {len(rates[name])})")
        ratio = statistics.median(rates["lvsmon"]) / statistics.median(rates["keepalived"])
        print(f"ratio lvsmon / keepalived: {ratio:.2f}")
        for name, (agent, master, seconds, varbinds) in cpu.items():
            # /proc counts in clock ticks (10 ms): many walks make the figures meaningful.
            net = max(0.0, agent - idle[name] * seconds)
            print(f"{name:10} CPU per varbind walked: agent {agent / varbinds * 1e6:.0f} µs "
                  f"({net / varbinds * 1e6:.0f} µs beyond its {idle[name]:.0%} of a core "
                  f"when nobody walks), its snmpd {master / varbinds * 1e6:.0f} µs")

        cell = f"{VRRP_INSTANCE_TABLE}.1.4.{count}"
        slowest_get = 0.0
        for _ in range(args.gets):
            began = time.perf_counter()
            lv.run(["snmpget", "-v2c", "-c", COMMUNITY, "-On", "-t", "5", "-r", "0",
                    f"127.0.0.1:{SNMP_PORT}", cell], env=TOOL_ENV, timeout=60)
            slowest_get = max(slowest_get, time.perf_counter() - began)
        counters = daemon.agentx().counters
        print(f"lvsmon slowest single AgentX answer: "
              f"{counters['slowest_answer_microseconds'] / 1e6:.4f} s over "
              f"{sum(v for k, v in counters.items() if k.startswith('pdus_answered.'))} PDUs; "
              f"index rebuilt {counters['index_builds']} times, "
              f"{counters.get('index_area_reuses', 0)} area rebuilds on the last one's order, "
              f"{counters.get('index_builds_deferred', 0)} builds waited for a walk to end")
        print(f"slowest of {args.gets} snmpget round trips to lvsmon (a net-snmp process "
              f"each): {slowest_get:.3f} s")


if __name__ == "__main__":
    main()
