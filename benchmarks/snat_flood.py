"""A flood of new source-NATed connections through the SNAT lab's router: what lvsmon records.

Run as root from the repo root: `python -m benchmarks.snat_flood`. Builds the SNAT lab
(tests.lab.snat_topology: clients -> masquerading router -> server), starts `lvsmon snat run`
and `conntrack -E` (the reference, same netlink buffer size) in the router, then offers new
UDP flows at rising rates, each step from its own source address and bounded in count and
time. Every packet is a new conntrack entry (a new source or destination port), masqueraded
on the way out; the server drops them. Per step it prints the offered rate, the entries the
kernel made (an nftables `ct state new` counter after NAT in the router), and the share each tool
recorded, plus lvsmon's lost-event count. All traffic stays inside the lab's namespaces.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from tests.lab import Lab
from tests.lab import snat_topology as topo

FLOOD_PORT_BASE = 20000
SERVER_DROP = """
table inet lvsmt_drop {
    chain input {
        type filter hook input priority 0;
        udp dport >= 20000 drop
    }
}
"""
NEW_COUNTER = """
table inet lvsmt_count {
    chain after_nat {
        type filter hook postrouting priority 300;
        ct state new ct status snat ct original ip saddr 10.71.1.0/24 counter
    }
}
"""


FLOWS_PER_DESTINATION_PORT = 5000  # masquerade has 10,000 ports per destination


def sender(source: str, destination: str, count: int, rate: float, port_base: int) -> None:
    """Runs in the client namespace: `count` UDP packets, each a new flow, at `rate` per s."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    src, dst = socket.inet_aton(source), socket.inet_aton(destination)
    sent = 0
    start = time.monotonic()
    while sent < count:
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        while sent < due:
            sport = 1024 + sent % FLOWS_PER_DESTINATION_PORT
            dport = port_base + sent // FLOWS_PER_DESTINATION_PORT
            udp = struct.pack("!HHHH", sport, dport, 8, 0)  # checksum 0: none (IPv4)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, src, dst)
            sock.sendto(ip + udp, (destination, 0))
            sent += 1
        pause = sent / rate - (time.monotonic() - start)
        if pause > 0:
            time.sleep(pause)
    elapsed = time.monotonic() - start
    print(json.dumps({"sent": sent, "seconds": elapsed}))


def new_counter(router) -> int:
    out = router.run(["nft", "-j", "list", "table", "inet", "lvsmt_count"]).stdout
    for item in json.loads(out)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return expr["counter"]["packets"]
    raise RuntimeError("no counter in lvsmt_count")


def status(path: Path) -> dict:
    return json.loads(path.read_text())


def wait_quiet(read, settle: float = 1.0, timeout: float = 30.0) -> None:
    """Until `read()` stops changing for `settle` seconds."""
    last, since, deadline = read(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2000,5000,10000,20000,40000",
                        help="offered new connections per second, one step each")
    parser.add_argument("--seconds", type=float, default=1.5, help="length of each step")
    parser.add_argument("--buffer-bytes", type=int, default=64 << 20,
                        help="netlink receive buffer of lvsmon and of conntrack -E")
    parser.add_argument("--send", nargs=5, help=argparse.SUPPRESS)  # the sender half
    args = parser.parse_args()
    if args.send:
        sender(args.send[0], args.send[1], int(args.send[2]), float(args.send[3]),
               int(args.send[4]))
        return
    rates = [int(x) for x in args.rates.split(",")]
    if sum(int(r * args.seconds) for r in rates) > 200_000:
        sys.exit("too many connections in all: keep the sum of rate*seconds under 200,000")
    with Lab() as lab:
        run(lab, rates, args.seconds, args.buffer_bytes)


def run(lab: Lab, rates: list[int], seconds: float, buffer_bytes: int) -> None:
    snat = topo.build(lab, clients=1, server_up=False)
    router, client = snat.router, snat.clients[0]
    snat.server.run(["nft", "-f", "-"], input=SERVER_DROP)
    router.run(["nft", "-f", "-"], input=NEW_COUNTER)
    tmp = Path(lab.tmpdir)
    witness = snat.witness(buffer_bytes=buffer_bytes)
    status_file = tmp / "status.json"
    store = tmp / "snat.sqlite"
    lvsmon = snat.lvsmon("--store", str(store), "--status-file", str(status_file),
                         "--node", "router", "--receive-buffer-bytes", str(buffer_bytes))
    lab.wait_for(lambda: status_file.exists() and status(status_file)["dumps"] >= 1, 15,
                 what="lvsmon snat run ready")
    time.sleep(0.5)
    print(f"SNAT flood: {seconds:g} s per step, netlink buffer {buffer_bytes} bytes asked "
          f"for both tools, 2 cores shared by sender, kernel, lvsmon and conntrack -E")
    print(f"{'offered/s':>10} {'achieved/s':>10} {'kernel new':>10} {'lvsmon':>8} "
          f"{'conntrack -E':>12} {'lvsmon %':>8} {'ct -E %':>8} {'lvsmon lost':>11}")
    results = []
    for step, rate in enumerate(rates):
        source = f"10.71.1.{100 + step}"
        client.add_address("eth0", f"{source}/24")
        count = int(rate * seconds)
        before_kernel = new_counter(router)
        before_lost = status(status_file)["lost_events"]
        done = client.run([sys.executable, "-m", "benchmarks.snat_flood", "--send", source,
                           topo.SERVER, str(count), str(rate), str(FLOOD_PORT_BASE + 100 * step)],
                          env=topo.PYTHON_ENV,
                          timeout=seconds * 10 + 30)
        sent = json.loads(done.stdout.strip().splitlines()[-1])
        wait_quiet(lambda: (lambda st: (st["snat_events"], st["dumps"], st["dumping"],
                                        st["sinks"]["sqlite"]["pending_records"]))(
            status(status_file)), settle=2.0, timeout=60)
        wait_quiet(lambda: len(witness.log()), settle=1.0)
        time.sleep(0.5)  # one more flush interval
        kernel = new_counter(router) - before_kernel
        lost = status(status_file)["lost_events"] - before_lost
        ours = _count_store(store, source)
        theirs = sum(1 for e in topo.parse_witness(witness.log())
                     if e.kind == "NEW" and e.inside[0] == source)
        achieved = sent["sent"] / sent["seconds"]
        results.append((rate, achieved, kernel, ours, theirs, lost))
        print(f"{rate:>10} {achieved:>10.0f} {kernel:>10} {ours:>8} {theirs:>12} "
              f"{100 * ours / max(kernel, 1):>8.1f} {100 * theirs / max(kernel, 1):>8.1f} "
              f"{lost:>11}", flush=True)
    lvsmon.stop()
    witness.stop()
    clean = [r for r in results if r[5] == 0 and r[3] == r[2]]
    best = max(clean, key=lambda r: r[1], default=None)
    if best:
        print(f"highest rate recorded with zero loss: {best[1]:.0f} new connections/s "
              f"(offered {best[0]}/s)")
    else:
        print("no step was recorded without loss")
    behind = [r for r in results if r[3] < r[4]]
    print("lvsmon recorded fewer than conntrack -E at offered rates: "
          + (", ".join(str(r[0]) for r in behind) if behind else "none"))
    ratio_lines = [line for line in lvsmon.log().splitlines() if "overflow" in line]
    if ratio_lines:
        print(f"lvsmon logged {len(ratio_lines)} overflow warning(s)")


def _count_store(path: Path, source: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c",
         "import sqlite3,sys; db=sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True);"
         "print(db.execute('select count(*) from connection where inside_address=?',"
         " (sys.argv[2],)).fetchone()[0])", str(path), source],
        capture_output=True, text=True, check=True)
    return int(out.stdout)


if __name__ == "__main__":
    main()
