"""snmpbulkwalk of a 50,000-varbind index served by lvsmon's AgentX subagent through snmpd.

Run as root from the repo root: `python -m benchmarks.agentx_walk [--rows 5555]`.
One lab namespace: snmpd (`master agentx`, UDP on 127.0.0.1) and the test subagent
(tests.lab.agentx_agent, a table of 9 columns x rows + 2 scalars). Each repetition walks
the whole subtree with snmpbulkwalk and counts the varbinds printed.

Printed: varbinds per second through snmpd for each -Cr (max-repetitions), and as the
reference measured in the same run, the subagent's own answering rate without snmpd
(the same index, answer_get_next per varbind in this process): the ratio shows how much
of a walk's time is snmpd and the SNMP round trips rather than lvsmon. The comparison
with keepalived's own agent comes with the MIB work (issue 8); keepalived's agent was
measured at 5,000 varbinds of vrrpInstanceTable in about 0.44 s on this kind of machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

from lvsmon_snmp.agentx.answers import answer_get_next
from lvsmon_snmp.agentx.codec import SearchRange
from tests.lab import Lab
from tests.lab.agentx_agent import build_index
from tests.lab.snmp_lab import BASE, BASE_TEXT, SnmpLab, parse_varbinds


def in_process_rate(rows: int) -> float:
    """Varbinds per second of the subagent's GetNext answers alone, no sockets."""
    index = build_index([BASE], rows, "lvsmon", 1)
    start, count = (BASE, True), 0
    began = time.perf_counter()
    while True:
        (varbind,) = answer_get_next(index, (SearchRange(start[0], (), start[1]),))
        if varbind.value.is_exception:
            break
        count += 1
        start = (varbind.name, False)
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5555, help="table rows (x 9 columns)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--max-repetitions", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()

    reference = in_process_rate(args.rows)
    with Lab() as lab:
        snmp = SnmpLab(lab, lab.namespace("bench"))
        snmp.start()
        snmp.spawn_agent("--rows", str(args.rows))
        status = snmp.wait_served(timeout=60)
        size = status["index_size"]
        print(f"index: {size} varbinds; subagent alone (in process): {reference:,.0f} vb/s")
        for repetitions in args.max_repetitions:
            rates = []
            for _ in range(args.repetitions):
                began = time.perf_counter()
                done = snmp.tool("snmpbulkwalk", f"-Cr{repetitions}", BASE_TEXT, check=False,
                                 timeout=5, retries=0)
                seconds = time.perf_counter() - began
                got = len(parse_varbinds(done.stdout))
                if done.returncode != 0 or got != size:
                    raise SystemExit(f"walk failed: {got} of {size} varbinds, {done.stderr}")
                rates.append(got / seconds)
            rate = statistics.median(rates)
            print(f"snmpbulkwalk -Cr{repetitions}: {size} varbinds in {size / rate:.2f} s = "
                  f"{rate:,.0f} vb/s (median of {len(rates)}); "
                  f"ratio to the subagent alone {rate / reference:.3f}")
        status = snmp.status()
        print(f"slowest single answer of the subagent: {status['slowest_answer_seconds']} s; "
              f"AgentX PDUs answered: {status['pdus_answered']}")


if __name__ == "__main__":
    main()
