"""A test subagent process: lvsmon_snmp's Subagent serving a small table of every SNMP type.

    python -m tests.lab.agentx_agent --master /tmp/x/agentx.sock --status /tmp/x/status.json
        [--subtree OID ...] [--label TEXT] [--slow SECONDS] [--rows N]

Under BASE (the settings' default base OID, or --base; with --subtree, under each
subtree registered):

    BASE.1.1.C.R   table "every type": column C (1..9) of row R (1..rows):
                   1 Integer32  2 OctetString  3 OID  4 IpAddress  5 Counter32
                   6 Gauge32  7 TimeTicks  8 Opaque  9 Counter64
                   (no Null: SMIv2 has no NULL syntax, and net-snmp's master takes a
                   Null in a GetNext answer for "not answered" and ends the walk)
    BASE.2.0       OctetString, the --label (tells two test subagents apart)
    BASE.3.0       Counter32: how many indexes were published so far

--slow S: a provider rebuilds the index every 0.2 s in a worker thread, taking S
seconds of sleep plus a CPU-heavy build of 20,000 extra values under BASE.9, so
that answers race a slow, busy source. Every 0.2 s the Subagent's status() goes
to --status as JSON (atomically). SIGUSR1 sends a notification (TRAP_OID with
one varbind of each type); SIGTERM stops (Close, exit 0). Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from lvsmon_snmp.agentx import AgentxSettings, OidIndex, Subagent, Subtree, Value, parse_oid

ROWS = 3
TRAP_SUFFIX = (0, 1)  # BASE.0.1: the test notification


def row_values(row: int) -> list[Value]:
    """Columns 1..9 of a row: a value of every AgentX data type but Null, distinct per row."""
    return [
        Value.integer32(-1000 * row - 7),
        Value.octet_string(f"row {row} text"),
        Value.object_identifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, row)),
        Value.ip_address(bytes((192, 0, 2 + row // 256 % 254, row % 256))),
        Value.counter32(4_000_000_000 + row),
        Value.gauge32(1000 + row),
        Value.time_ticks(360_000 * row),
        Value.opaque(bytes((0xDE, 0xAD, 0xBE, row % 256))),  # 0x9F first: a float to net-snmp
        Value.counter64(2**63 + row),
    ]


def build_index(bases: list[tuple[int, ...]], rows: int, label: str, generation: int,
                extra: int = 0) -> OidIndex:
    entries, objects = [], []
    for base in bases:
        for row in range(1, rows + 1):
            for column, value in enumerate(row_values(row), start=1):
                entries.append((base + (1, 1, column, row), value))
        entries.append((base + (2, 0), Value.octet_string(label)))
        entries.append((base + (3, 0), Value.counter32(generation)))
        for number in range(extra):  # the slow provider's busy work
            entries.append((base + (9, 1, number), Value.gauge32(number)))
        objects += [base + (1, 1, column) for column in range(1, 10)]
        objects += [base + (2,), base + (3,), base + (9, 1)]
    return OidIndex(entries, objects=objects)


def write_status(path: Path, subagent: Subagent) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({**subagent.status(), "pid": os.getpid(),
                                     "time": time.time()}))
    temporary.replace(path)


async def main(args: argparse.Namespace) -> int:
    settings = AgentxSettings(enabled=True, master=args.master, base_oid=args.base,
                              timeout=args.timeout, ping_interval=args.ping_interval)
    base = settings.base
    subtrees = [Subtree(parse_oid(text)) for text in args.subtree] or [Subtree(base)]
    bases = [subtree.oid for subtree in subtrees]
    generation = 1
    subagent = Subagent(settings, subtrees, build_index(bases, args.rows, args.label, generation),
                        description=f"lvsmon test subagent {args.label}")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def send_trap() -> None:
        varbinds = [(base + (1, 1, column, 1), value)
                    for column, value in enumerate(row_values(1), start=1)]
        sent = subagent.notify(base + TRAP_SUFFIX, varbinds)
        logging.info("notification %s", "sent" if sent else "not sent: no session")

    loop.add_signal_handler(signal.SIGUSR1, send_trap)
    await subagent.start()

    async def provide() -> None:
        nonlocal generation
        while True:
            def slow_build(number: int) -> OidIndex:
                time.sleep(args.slow)
                return build_index(bases, args.rows, args.label, number, extra=20_000)

            index = await asyncio.to_thread(slow_build, generation + 1)
            generation += 1
            subagent.update(index)
            await asyncio.sleep(0.2)

    async def report() -> None:
        while True:
            write_status(args.status, subagent)
            await asyncio.sleep(0.2)

    tasks = [loop.create_task(report())]
    if args.slow is not None:
        tasks.append(loop.create_task(provide()))
    await stop.wait()
    logging.info("stopping")
    await subagent.stop()
    for task in tasks:
        task.cancel()
    write_status(args.status, subagent)
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--base", default=AgentxSettings().base_oid)
    parser.add_argument("--subtree", action="append", default=[])
    parser.add_argument("--label", default="lvsmon")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--slow", type=float, default=None)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--ping-interval", type=float, default=10.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
