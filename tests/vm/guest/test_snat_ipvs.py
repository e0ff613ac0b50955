"""lvsmon snat on an IPVS NAT director that also source-NATs towards its real servers.

    client 10.61.1.2 -- director 10.61.1.1 | VIP 10.61.100.1:80 (tcp, udp; IPVS masq, rr)
                        director 10.62.0.1 (nft masquerade) -- bridge -- rs1 .11, rs2 .12 :8080

With net.ipv4.vs.conntrack=1 IPVS keeps conntrack entries for its connections, so the
masquerade rule applies and the real servers need no route back through the director:
they only ever see 10.62.0.1 and a port. Each record must link the client, the virtual
service it addressed, the real server it reached and the translated port, and `who` must
answer from a real server's log line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.lab import Lab
from tests.lab.snat_topology import PYTHON_ENV, REPO

CLIENT, DIRECTOR_IN, DIRECTOR_OUT = "10.61.1.2", "10.61.1.1", "10.62.0.1"
VIP, VPORT, RPORT = "10.61.100.1", 80, 8080
REAL_SERVERS = {"srs1": "10.62.0.11", "srs2": "10.62.0.12"}
NFT = """
table ip lvsmt_snat {
    chain postrouting {
        type nat hook postrouting priority srcnat;
        oifname "rsside" meta l4proto { tcp, udp } masquerade to :40000-49999
    }
}
"""


def peers(ns, *args, name=None):
    return ns.spawn([sys.executable, "-m", "tests.lab.snat_peers", *args], name=name,
                    env=PYTHON_ENV)


def test_ipvs_nat_with_snat_links_client_service_real_server_and_port():
    with Lab() as lab:
        client = lab.namespace("sclient")
        director = lab.namespace("sdirector")
        lab.veth(client, director, f"{CLIENT}/24", f"{DIRECTOR_IN}/24")
        seg = lab.segment("snatrs")
        seg.attach(director, f"{DIRECTOR_OUT}/24", ifname="rsside")
        client.run(["ip", "route", "add", "default", "via", DIRECTOR_IN])
        director.run(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"])
        director.sysctl("net.ipv4.ip_forward", 1)
        director.sysctl("net.ipv4.vs.conntrack", 1)
        director.run(["nft", "-f", "-"], input=NFT)
        servers = {}
        for name, address in REAL_SERVERS.items():
            ns = lab.namespace(name)
            seg.attach(ns, f"{address}/24", ifname="eth0")  # no route back: SNAT needs none
            servers[name] = peers(ns, "server", str(RPORT), name=f"{name}-server")
        for flag in ("-t", "-u"):
            director.run(["ipvsadm", "-A", flag, f"{VIP}:{VPORT}", "-s", "rr"])
            for address in REAL_SERVERS.values():
                director.run(["ipvsadm", "-a", flag, f"{VIP}:{VPORT}", "-r",
                              f"{address}:{RPORT}", "-m"])
        for proc in servers.values():
            lab.wait_for(lambda p=proc: '"listening"' in p.log(), 30, what="real server up")

        tmp = Path(lab.tmpdir)
        store, status = tmp / "snat.sqlite", tmp / "status.json"
        recorder = director.spawn([sys.executable, "-m", "lvsmon", "snat", "run", "--store",
                                   str(store), "--status-file", str(status), "--node",
                                   "director"], name="lvsmon-snat", env=PYTHON_ENV)
        lab.wait_for(lambda: status.exists() and json.loads(status.read_text())["dumps"] >= 1,
                     60, what="lvsmon snat run ready")
        done = client.run([sys.executable, "-m", "tests.lab.snat_peers", "client", VIP,
                           str(VPORT), "3"], env=PYTHON_ENV, timeout=120)
        flows = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(flows) == 6

        def seen_by_servers():
            seen = [dict(json.loads(line), server=name) for name, proc in servers.items()
                    for line in proc.log().splitlines() if '"peer"' in line]
            return seen if len(seen) == 6 else None

        seen = lab.wait_for(seen_by_servers, 30, what="real servers saw 6 flows")
        assert {s["peer"] for s in seen} == {DIRECTOR_OUT}  # the real servers see only SNAT

        def recorded():
            answer = lvsmon("log", "--store", str(store), "--json")
            records = [json.loads(line) for line in answer.stdout.splitlines()]
            return records if len(records) == 6 else None

        records = lab.wait_for(recorded, 30, what="6 records")
        by_inside = {(r["protocol"], r["inside_port"]): r for r in records}
        for flow in flows:
            record = by_inside[(flow["proto"], flow["inside_port"])]
            assert record["inside_address"] == CLIENT
            assert (record["original_destination_address"],
                    record["original_destination_port"]) == (VIP, VPORT)  # the virtual service
            assert record["real_destination_address"] in REAL_SERVERS.values()
            assert record["real_destination_port"] == RPORT
            assert record["translated_address"] == DIRECTOR_OUT
            assert 40000 <= record["translated_port"] <= 49999

        # From a real server's log line (peer address and port, time) back to the client.
        for line in seen:
            at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(line["at"]))
            answer = lvsmon("who", "--store", str(store), "--translated",
                            f"{line['peer']}:{line['peer_port']}", "--at", at, "--dest",
                            f"{REAL_SERVERS[line['server']]}:{RPORT}", "--json")
            found = [json.loads(x) for x in answer.stdout.splitlines()]
            assert len(found) == 1, (line, answer.stdout)
            assert found[0]["inside_address"] == CLIENT
            assert found[0]["original_destination_address"] == VIP
        assert recorder.stop() == 0
        print("\n".join(lvsmon("log", "--store", str(store)).stdout.splitlines()[:2]))


def lvsmon(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "lvsmon", "snat", *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done
