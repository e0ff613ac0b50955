"""lvsmon snat against the real kernel: masquerading router, real TCP/UDP flows, and
`conntrack -E` in the same namespace as the independent witness."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from lvsmon.model.codec import from_json
from lvsmon.model.snat import SnatStatus
from lvsmon.snat.store_sqlite import SqliteStore
from tests.lab import snat_topology as topo

pytestmark = pytest.mark.lab

SHORT_TIMEOUTS = {  # so DESTROY events come within seconds (per-namespace sysctls)
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait": 1,
    "net.netfilter.nf_conntrack_tcp_timeout_close": 1,
    "net.netfilter.nf_conntrack_tcp_timeout_fin_wait": 1,
    "net.netfilter.nf_conntrack_tcp_timeout_last_ack": 1,
    "net.netfilter.nf_conntrack_udp_timeout": 1,
    "net.netfilter.nf_conntrack_udp_timeout_stream": 1,
}


def lvsmon_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "lvsmon", "snat", *args], capture_output=True,
                          text=True, timeout=30, cwd=topo.REPO)
    if check and done.returncode != 0:
        raise AssertionError(f"lvsmon snat {args} exited {done.returncode}: {done.stderr}")
    return done


def start_lvsmon(snat, tmp: Path, *extra: str, name: str = "lvsmon-snat"):
    status = tmp / "status.json"
    proc = snat.lvsmon("--store", str(tmp / "snat.sqlite"), "--jsonl", str(tmp / "snat.jsonl"),
                       "--status-file", str(status), "--node", "router", *extra, name=name)

    def ready():
        proc.check_running()
        return status.exists() and json.loads(status.read_text())["pid"] == proc.pid \
            and json.loads(status.read_text())["dumps"] >= 1

    snat.lab.wait_for(ready, 15, what="lvsmon snat run ready")
    return proc, status


def wait_witness(snat, witness, predicate, what: str, timeout: float = 30.0):
    return snat.lab.wait_for(lambda: predicate(topo.parse_witness(witness.log())), timeout,
                             what=what)


def fix_timeouts(router) -> None:
    for key, value in SHORT_TIMEOUTS.items():
        router.sysctl(key, value)


def test_flows_recorded_and_match_conntrack_witness(lab):
    snat = topo.build(lab)
    fix_timeouts(snat.router)
    tmp = Path(lab.tmpdir)
    witness = snat.witness()
    time.sleep(0.3)  # conntrack -E subscribes at start; nothing to race with yet
    proc, status = start_lvsmon(snat, tmp)
    status_info = json.loads(status.read_text())
    assert status_info["accounting"] == {"nf_conntrack_acct": "turned on",
                                         "nf_conntrack_timestamp": "turned on"}
    assert "nf_conntrack_acct: turned on" in proc.log()

    flows = []
    for ns in snat.clients:
        flows += snat.run_python(ns, "client", topo.SERVER, str(topo.PORT), "5")
    held = snat.python(snat.clients[0], "hold", topo.SERVER, str(topo.PORT), "3", name="hold")
    lab.wait_for(lambda: '"held"' in held.log(), 10, what="held connections")
    held_flows = [json.loads(x) for x in held.log().splitlines() if '"inside"' in x]
    server = lab.process("snat-server")

    def server_saw():
        seen = [json.loads(x) for x in server.log().splitlines() if '"peer"' in x]
        return seen if len(seen) == 23 else None

    seen_by_server = lab.wait_for(server_saw, 10, what="server saw 23 flows")
    assert len(flows) == 20

    def all_closed(events):
        ids = {e.conntrack_id for e in events if e.kind == "DESTROY" and e.protocol in
               ("tcp", "udp")}
        news = {e.conntrack_id for e in events if e.kind == "NEW" and e.protocol in ("tcp", "udp")}
        return len(news) == 23 and len(news - ids) == 3 and events

    topo.expire_ended_flows(snat.router)
    events = wait_witness(snat, witness, all_closed, "conntrack -E saw 20 flows end")
    ended = {e.conntrack_id for e in events if e.kind == "DESTROY"}

    def flushed():  # the recorder writes what it read at its flush interval
        store = SqliteStore(tmp / "snat.sqlite", readonly=True)
        try:
            records = store.log()
        finally:
            store.close()
        stored_ends = {r.conntrack_id for r in records if r.end_ns is not None}
        return records if len(records) >= 23 and ended <= stored_ends else None

    records = lab.wait_for(flushed, 15, what="the 20 ends written to the store")
    by_id = {r.conntrack_id: r for r in records}
    assert len(by_id) == len(records) == 23, [str(r) for r in records]

    # The witness and lvsmon agree on every connection: id, inside, translated, destinations.
    destroyed = {e.conntrack_id for e in events if e.kind == "DESTROY"}
    for event in events:
        record = by_id[event.conntrack_id]
        assert record.protocol == event.protocol
        assert (record.inside_address, record.inside_port) == event.inside
        assert (record.translated_address, record.translated_port) == event.translated
        assert (record.original_destination_address,
                record.original_destination_port) == event.destination
        assert (record.real_destination_address, record.real_destination_port) == event.real
        if event.kind == "DESTROY":
            assert record.end_ns is not None and not record.end_lost
            assert abs(record.end_ns / 1e9 - event.at) < 1.0
            assert record.bytes_out and record.packets_in  # nf_conntrack_acct is on
        else:
            assert abs(record.start_ns / 1e9 - event.at) < 1.0
            # A DESTROY brings the kernel's start time; a NEW event has none (ours stands in).
            assert record.start_exact == (event.conntrack_id in destroyed)
    for held_flow in held_flows:
        assert any(r.end_ns is None and r.inside_port == held_flow["inside_port"]
                   for r in records)

    # Every flow: right inside and translated endpoints, and `who` finds it at its time.
    translated_by_inside = {(r.protocol, r.inside_address, r.inside_port): r for r in records}
    for flow in flows + held_flows:
        record = translated_by_inside[(flow["proto"], flow["inside"], flow["inside_port"])]
        assert record.translated_address == topo.ROUTER_OUTSIDE
        assert topo.NAT_PORTS[0] <= record.translated_port <= topo.NAT_PORTS[1]
        assert any(s["proto"] == flow["proto"] and s["peer_port"] == record.translated_port
                   for s in seen_by_server)
    held_translated = {(r.protocol, r.translated_port) for r in records if r.end_ns is None}
    for seen in seen_by_server:
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seen["at"])) + \
            f".{int(seen['at'] % 1 * 1e6):06d}"
        # Ended flows have the kernel's start and end: the server's time must fall inside
        # exactly. Held ones have only the time lvsmon read their NEW event: allow 1 s.
        held_one = (seen["proto"], seen["peer_port"]) in held_translated
        # A TCP and a UDP flow may share a translated port (each protocol has its own
        # ports): the server's log says which, and --protocol asks for that one.
        answer = lvsmon_cli("who", "--store", str(tmp / "snat.sqlite"), "--translated",
                            f"{seen['peer']}:{seen['peer_port']}", "--at", at,
                            "--slack", "1" if held_one else "0", "--protocol", seen["proto"],
                            "--dest", f"{topo.SERVER}:{topo.PORT}", "--json")
        found = [json.loads(line) for line in answer.stdout.splitlines()]
        assert len(found) == 1, (seen, answer.stdout)
        assert found[0]["protocol"] == seen["proto"]
        assert found[0]["inside_address"] in topo.CLIENTS

    nobody = lvsmon_cli("who", "--store", str(tmp / "snat.sqlite"), "--translated",
                        f"{topo.ROUTER_OUTSIDE}:39999", "--at", "now")
    assert nobody.stdout.startswith("no connection used 10.71.2.1:39999")
    still_open = next(r for r in records if r.end_ns is None)
    asked = ("who", "--store", str(tmp / "snat.sqlite"), "--translated",
             f"{still_open.translated_address}:{still_open.translated_port}", "--at", "now")
    [found] = [json.loads(line) for line in lvsmon_cli(
        *asked, "--protocol", still_open.protocol, "--json").stdout.splitlines()]
    assert found["conntrack_id"] == still_open.conntrack_id
    no_sctp = lvsmon_cli(*asked, "--protocol", "sctp")
    assert no_sctp.stdout.startswith("no sctp connection used"), no_sctp.stdout
    log = lvsmon_cli("log", "--store", str(tmp / "snat.sqlite"), "--inside", topo.CLIENTS[1],
                     "--since", "10 minutes ago")
    assert len(log.stdout.splitlines()) == 10
    jsonl = [json.loads(x) for x in (tmp / "snat.jsonl").read_text().splitlines()]
    assert {x["conntrack_id"] for x in jsonl if x["event"] == "close"} == \
        {e.conntrack_id for e in events if e.kind == "DESTROY"}
    state = lvsmon_cli("status", "--status-file", str(status), "--store",
                       str(tmp / "snat.sqlite"))
    assert "running" in state.stdout and "lost events: 0 (in 0 socket" in state.stdout
    held.stop()
    assert proc.stop() == 0


def test_ipv6_flows_recorded_and_found(lab):
    snat = topo.build(lab)
    tmp = Path(lab.tmpdir)
    proc, _status = start_lvsmon(snat, tmp)
    flows = snat.run_python(snat.clients[1], "client", topo.SERVER6, str(topo.PORT6), "2")
    server = lab.process("snat-server6")
    seen = lab.wait_for(lambda: (lambda s: s if len(s) == 4 else None)(
        [json.loads(x) for x in server.log().splitlines() if '"peer"' in x]), 10,
        what="server saw 4 IPv6 flows")
    assert {s["peer"] for s in seen} == {topo.ROUTER_OUTSIDE6}

    def recorded():
        store = SqliteStore(tmp / "snat.sqlite", readonly=True)
        try:
            records = [r for r in store.log() if r.family == "inet6"]
        finally:
            store.close()
        return records if len(records) == 4 else None

    records = lab.wait_for(recorded, 10, what="4 IPv6 records")
    inside = {(r.protocol, r.inside_address, r.inside_port) for r in records}
    assert inside == {(f["proto"], f["inside"], f["inside_port"]) for f in flows}
    for line in seen:
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(line["at"]))
        answer = lvsmon_cli("who", "--store", str(tmp / "snat.sqlite"), "--translated",
                            f"[{line['peer']}]:{line['peer_port']}", "--at", at, "--dest",
                            f"[{topo.SERVER6}]:{topo.PORT6}")
        assert f"[{topo.CLIENTS6[1]}]:" in answer.stdout, answer.stdout
        assert len(answer.stdout.splitlines()) == 1
    assert proc.stop() == 0


def test_overflow_counted_and_redump_recovers(lab):
    snat = topo.build(lab)
    tmp = Path(lab.tmpdir)
    # A 4 KiB receive buffer holds a handful of events: a burst of 150 overflows it.
    proc, status = start_lvsmon(snat, tmp, "--receive-buffer-bytes", "4096")
    held = snat.python(snat.clients[0], "hold", topo.SERVER, str(topo.PORT), "150", name="hold")
    lab.wait_for(lambda: '"held"' in held.log(), 60, what="150 held connections")
    held_ports = {json.loads(x)["inside_port"] for x in held.log().splitlines() if '"inside"' in x}

    def recovered():
        # Raises what is still missing: wait_for reports the last one if time runs out.
        info = json.loads(status.read_text())
        if info["lost_events"] == 0 or info["dumps"] < 2:
            raise LookupError(f"lost_events {info['lost_events']}, dumps {info['dumps']}")
        store = SqliteStore(tmp / "snat.sqlite", readonly=True)
        try:
            ports = {r.inside_port for r in store.log(inside=topo.CLIENTS[0]) if r.end_ns is None}
        finally:
            store.close()
        missing = held_ports - ports
        if missing:
            raise LookupError(f"{len(missing)} of {len(held_ports)} held connections not open "
                              f"in the store (e.g. port {min(missing)}); status {info}")
        return info

    info = lab.wait_for(recovered, 60, what="overflow counted and open connections recovered")
    assert info["lost_events"] >= 1
    assert "event socket overflow" in proc.log()
    store = SqliteStore(tmp / "snat.sqlite", readonly=True)
    assert sum(x.count for x in store.losses() if x.kind == "enobufs") >= 1
    dropped = sum(x.count for x in store.losses() if x.kind == "events_dropped")
    assert dropped == info["lost_events"] or dropped >= 1
    state = lvsmon_cli("status", "--status-file", str(status), "--store",
                       str(tmp / "snat.sqlite"), "--json")
    reported = from_json(SnatStatus, json.loads(state.stdout))
    assert reported.lost_events >= 1 and reported.store.lost_by_kind["enobufs"] >= 1
    print(f"overflow: {info['lost_events']} events lost in {info['overflows']} ENOBUFS, "
          f"{info['dumps']} dumps, "
          f"{len(held_ports)} open connections all recovered")
    held.stop()
    proc.stop()


def test_kill_9_under_load_leaves_no_torn_or_duplicate_records(lab):
    snat = topo.build(lab)
    fix_timeouts(snat.router)
    tmp = Path(lab.tmpdir)
    witness = snat.witness()
    time.sleep(0.3)
    proc, _status = start_lvsmon(snat, tmp)
    churners = [snat.python(ns, "churn", topo.SERVER, str(topo.PORT), "6", name=f"churn{i}")
                for i, ns in enumerate(snat.clients)]
    held = snat.python(snat.clients[0], "hold", topo.SERVER, str(topo.PORT), "20", name="hold")
    time.sleep(2.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    restarted, _ = start_lvsmon(snat, tmp, name="lvsmon-snat-2")
    for churner in churners:
        lab.wait_for(lambda c=churner: not c.alive, 30, what="churn finished")
    made = sum(json.loads(c.log().splitlines()[-1])["connections"] for c in churners)
    time.sleep(4.0)  # the last connections expire (1 s timeouts) and their DESTROYs arrive
    assert restarted.stop() == 0
    witness.stop()

    db = sqlite3.connect(tmp / "snat.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT id, conntrack_id, protocol, inside_address, inside_port, "
                      "translated_port, start_ns, end_ns, end_lost FROM connection").fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids))
    assert db.execute("SELECT count(*) FROM connection GROUP BY conntrack_id, start_ns "
                      "HAVING count(*) > 1").fetchall() == []
    # Conntrack ids are reused, even with the same tuples once a client port comes round
    # again: a connection is its id and tuples at one time. No two records of the same id
    # and tuples overlap in time, and there are never more of them than the witness saw NEWs.
    witness_news = Counter((e.conntrack_id, *e.inside, e.translated[1])
                           for e in topo.parse_witness(witness.log()) if e.kind == "NEW")
    by_identity = defaultdict(list)
    for row in rows:
        by_identity[(row[1], row[3], row[4], row[5])].append((row[6], row[7], row[8]))
    # conntrack -E itself may hit ENOBUFS under this load (it says so); then a record may
    # lack its witness line, but never has more records than the witness saw NEWs otherwise.
    witness_lossy = "ENOBUFS" in witness.log()
    unwitnessed = 0
    for identity, spans in by_identity.items():
        if len(spans) > witness_news[identity]:
            assert witness_lossy, (identity, spans, witness_news[identity])
            unwitnessed += len(spans) - witness_news[identity]
        spans.sort()
        for (_, end, end_lost), (next_start, _, _) in itertools.pairwise(spans):
            # (an end lost is only an upper bound: the next one may start before it)
            assert end is not None and (end < next_start or end_lost), (identity, spans)
    reused = sum(1 for spans in by_identity.values() if len(spans) > 1)
    held_ports = {json.loads(x)["inside_port"] for x in held.log().splitlines() if '"inside"' in x}
    open_rows = {r[4] for r in rows if r[7] is None}
    assert held_ports <= open_rows  # the restart's dump has the connections still open
    print(f"kill -9 under load: {made} connections made, {witness_news.total()} witnessed, "
          f"{len(rows)} records, 0 duplicates ({reused} ids reused with the same tuples), "
          f"integrity ok; conntrack -E lost events: {witness_lossy}, records it lacks: "
          f"{unwitnessed}")
    held.stop()


def test_unwritable_store_is_reported_and_retried(lab):
    snat = topo.build(lab)
    tmp = Path(lab.tmpdir)
    blocked = tmp / "blocked"
    blocked.write_text("a file where the store's directory should be")
    status = tmp / "status.json"
    proc = snat.lvsmon("--store", str(blocked / "snat.sqlite"), "--status-file", str(status),
                       "--node", "router")

    def failing():
        proc.check_running()
        return status.exists() and not json.loads(status.read_text())["sinks"]["sqlite"]["ok"]

    lab.wait_for(failing, 15, what="store failure reported")
    snat.run_python(snat.clients[0], "client", topo.SERVER, str(topo.PORT), "2")
    time.sleep(1.5)
    assert proc.alive
    assert "sink sqlite cannot write" in proc.log()
    state = lvsmon_cli("status", "--status-file", str(status), "--store", str(tmp / "none"),
                       check=False)
    assert "FAILING" in state.stdout
    blocked.unlink()  # the disk is fixed: the held records arrive
    # ok comes with the first batch written; the rest follow: wait for none pending.
    lab.wait_for(lambda: json.loads(status.read_text())["sinks"]["sqlite"]["ok"] and
                 json.loads(status.read_text())["sinks"]["sqlite"]["pending_records"] == 0,
                 40, what="store writable again, held records written")
    store = SqliteStore(blocked / "snat.sqlite", readonly=True)
    assert len(store.log(inside=topo.CLIENTS[0])) == 4
    assert proc.stop() == 0


def test_full_disk_is_reported_and_retried(lab):
    """The store on a 256 KiB tmpfs of lvsmon's own mount namespace (it goes with the
    process); a churn of connections fills it; growing it lets the held records in."""
    snat = topo.build(lab)
    fix_timeouts(snat.router)
    tmp = Path(lab.tmpdir)
    disk = tmp / "disk"
    disk.mkdir()
    status = tmp / "status.json"
    mount_then_run = 'mount -t tmpfs -o size=256k lvsmt-full "$1" && shift && exec "$@"'
    proc = snat.router.spawn(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount_then_run, "sh",
         str(disk), sys.executable, "-m", "lvsmon", "snat", "run", "--store",
         str(disk / "snat.sqlite"), "--status-file", str(status), "--node", "router"],
        name="lvsmon-snat", env=topo.PYTHON_ENV)
    lab.wait_for(lambda: status.exists() and json.loads(status.read_text())["dumps"] >= 1, 15,
                 what="lvsmon snat run ready")
    churn = snat.python(snat.clients[0], "churn", topo.SERVER, str(topo.PORT), "3",
                        name="churn")

    def full():
        proc.check_running()
        error = json.loads(status.read_text())["sinks"]["sqlite"]["error"]
        return error if error and "full" in error else None

    error = lab.wait_for(full, 30, what="disk full reported")
    lab.wait_for(lambda: not churn.alive, 30, what="churn finished")
    made = json.loads(churn.log().splitlines()[-1])["connections"]
    time.sleep(1.0)
    assert proc.alive  # reported and retried, not a crash
    state = json.loads(status.read_text())["sinks"]["sqlite"]
    assert state["pending_records"] > 0
    snat.router.run(["nsenter", f"--mount=/proc/{proc.pid}/ns/mnt", "mount", "-o",
                     "remount,size=64m", str(disk)])  # the operator frees space
    lab.wait_for(lambda: json.loads(status.read_text())["sinks"]["sqlite"]["ok"] and
                 json.loads(status.read_text())["sinks"]["sqlite"]["pending_records"] == 0,
                 60, what="held records written after the disk was grown")
    # Read the store inside lvsmon's mount namespace, where the tmpfs is.
    check = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); print(db.execute("
             "'PRAGMA integrity_check').fetchone()[0], db.execute("
             "'SELECT count(*) FROM connection').fetchone()[0])")
    out = snat.router.run(["nsenter", f"--mount=/proc/{proc.pid}/ns/mnt", sys.executable, "-c",
                           check, str(disk / "snat.sqlite")]).stdout.split()
    assert out[0] == "ok"
    records = int(out[1])
    assert records >= made  # every connection made is there; nothing was dropped
    assert json.loads(status.read_text())["store_dropped"] == 0
    assert "sink sqlite writes again" in proc.log()
    print(f"full disk: {error!r} reported; {made} connections made, {records} records "
          f"after the disk grew")
    assert proc.stop() == 0


def test_sighup_reopens_jsonl_and_syslog_gets_rfc5424(lab):
    snat = topo.build(lab)
    tmp = Path(lab.tmpdir)
    syslog_path = tmp / "log.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(syslog_path))
    receiver.settimeout(10)
    lab.defer(receiver.close)
    proc, _status = start_lvsmon(snat, tmp, "--syslog", str(syslog_path), "--no-destinations")
    snat.run_python(snat.clients[0], "client", topo.SERVER, str(topo.PORT), "1")
    jsonl = tmp / "snat.jsonl"
    lab.wait_for(lambda: jsonl.exists() and len(jsonl.read_text().splitlines()) >= 2, 10,
                 what="two opens in the JSON lines")
    jsonl.rename(tmp / "snat.jsonl.1")  # as logrotate does
    proc.send_signal(signal.SIGHUP)
    lab.wait_for(lambda: "SIGHUP: sinks reopened" in proc.log(), 10, what="reopen logged")
    snat.run_python(snat.clients[1], "client", topo.SERVER, str(topo.PORT), "1")
    lab.wait_for(lambda: jsonl.exists() and len(jsonl.read_text().splitlines()) >= 2, 10,
                 what="new JSON lines after SIGHUP")
    fresh = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert {x["inside_address"] for x in fresh} == {topo.CLIENTS[1]}
    assert all(x["original_destination_address"] is None for x in fresh)  # privacy option
    message = receiver.recv(4096)
    assert message.startswith(b"<134>1 ")  # local0.info, RFC 5424 version 1
    assert b" router lvsmon-snat " in message and b"[snat@32473 " in message
    assert proc.stop() == 0
