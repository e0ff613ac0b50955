"""`lvsmon run` with [agentx] under a real snmpd (Debian's, `master agentx`, its AgentX socket
in the lab's temp dir, SNMPv2c on 127.0.0.1) in a lab namespace, with a real snmptrapd.

- test_vrrp_walked_by_every_manager_and_traps: namespaces a and b run keepalived (VRID 51,
  and a also VRID 71); d runs snmpd, snmptrapd and lvsmon run, whose observer hears eth0
  and whose participant runs four instances (VRRPv3 with two VIPs and a notify hook,
  VRRPv2 with a password, unicast and vmac, an IPv6 address owner, and web71 that a's
  keepalived preempts). snmpwalk, snmpbulkwalk, snmpget, snmpgetnext, snmptable and pysnmp
  read KEEPALIVED-MIB's VRRP tables, VRRPV3-MIB and LVSMON-MIB, checked OID by OID against
  the daemon's own state (its status socket) read before and after each walk. Then traps at
  snmptrapd: the participant preempted, a split brain (nftables between a and b) starting and
  ending, and web71 becoming master when a dies (vrrpv3NewMaster, masterNoResponse).
- test_next_to_keepalived_agent_on_one_snmpd: keepalived's own agent registers first; lvsmon
  serves the rest, says which subtrees it left in `lvsmon status` and in its metrics, and
  both are walkable.
- test_snmpd_restarted_and_down_for_a_minute: walks work again within 5 s of snmpd being
  back; a minute without snmpd costs no log line per attempt.
- test_a_source_that_never_answers_delays_no_answer: the IPVS source reads a FIFO nobody
  writes; snmpd gives lvsmon 1 s per answer and no retry, and every walk succeeds.
- test_hostile_master_leaves_the_daemon_running: the whole daemon against the scripted
  master of tests/lab/agentx_fake_master.py: every hostile PDU counted, the session reopened,
  the status socket and the exporter answering throughout.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time

import pytest

from lvsmon.model.daemon import DaemonState
from lvsmon_snmp.agentx import codec
from lvsmon_snmp.agentx.codec import CloseReason, SearchRange
from lvsmon_snmp.agentx.oids import format_oid
from lvsmon_snmp.agentx.values import Value, ValueType
from lvsmon_snmp.mib import keepalived_mib, lvsmon_mib, mapping, vrrpv3_mib
from tests.lab.agentx_daemon import (
    KEEPALIVED_VRRP,
    LVSMON,
    REPO,
    VRRP_INSTANCE_TABLE,
    VRRPV3,
    AgentxDaemon,
    assert_between,
    traps_of,
    under,
    walk,
)
from tests.lab.agentx_fake_master import HOSTILE, PROTOCOL, SESSION, FakeMaster
from tests.lab.firewall import block_vrrp, unblock_vrrp
from tests.lab.keepalived import keepalived_conf, kill_hard, spawn_keepalived, vrrp_instance
from tests.lab.keepalived_snmp import SNMP_PORT, snmp_global_defs
from tests.lab.snmp_lab import SnmpLab, snmptable, write_table_mib

pytestmark = pytest.mark.lab

A4, B4, D4, D6 = "10.35.0.11", "10.35.0.12", "10.35.0.30", "fd00:35::30"
KA = keepalived_mib
LAYOUT = lvsmon_mib.Layout()
SUBTREES = {format_oid(oid) for oid in mapping.subtrees().values()}
PROBES = [probe for probes in mapping.PROBES.values() for probe in probes]
PARTICIPANT = [
    {"name": "web61", "interface": "eth0", "vrid": 61, "priority": 150,
     "advert_interval": 0.5, "vips": ["10.35.0.161/24", "10.35.0.162/24"],
     "preempt_delay": 2, "notify": ["/bin/true"]},
    {"name": "legacy62", "interface": "eth0", "vrid": 62, "priority": 100, "version": 2,
     "advert_interval": 1, "vips": ["10.35.0.163/24"], "auth_pass": "secret12",
     "unicast_peers": ["10.35.0.99"], "vmac": True},
    {"name": "v6_63", "interface": "eth0", "vrid": 63, "priority": 255,
     "advert_interval": 0.5, "vips": ["fd00:35::163/64"]},
    {"name": "web71", "interface": "eth0", "vrid": 71, "priority": 100,
     "advert_interval": 0.5, "vips": ["10.35.0.171/24"]},
]  # fmt: skip
WEB71_ROW = 4


def trap_sinks() -> tuple[str, ...]:
    return ("trap2sink 127.0.0.1:16162 public",)


def keepalived_pair(lab, a, b) -> tuple:
    pair = ("V51", 51, 0.5, ["10.35.0.151/24"])
    ka_b = spawn_keepalived(lab, b, keepalived_conf("node-b", [
        vrrp_instance(pair[0], vrid=pair[1], priority=100, advert_int=pair[2], vips=pair[3])]))
    ka_a = spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance(pair[0], vrid=pair[1], priority=150, advert_int=pair[2], vips=pair[3]),
        vrrp_instance("V71", vrid=71, priority=200, advert_int=0.5, vips=["10.35.0.171/24"]),
    ]))  # fmt: skip
    return ka_a, ka_b


def instance(state: DaemonState, name: str):
    return next(i for i in state.participant.snapshot.instances if i.name == name)


def segment(state: DaemonState, vrid: int):
    return next((view for view in state.vrrp.snapshot.segments if view.vrid == vrid), None)


def read_between(daemon: AgentxDaemon, subtree: str, reader, what: str,
                 only: set[str] | None = None) -> dict:
    """reader() between two states of the daemon; checked against both (on the OIDs `only`
    if given: an snmpget of some cells); returns what it read."""
    interfaces = daemon.interfaces()

    def expected():
        found = daemon.expected(daemon.state(), subtree, interfaces)
        return found if only is None else {oid: found[oid] for oid in only if oid in found}

    # The index snmpd is answered from is built from a published state, off the loop, and
    # waits while a walk runs (at most 1 s): it may be older than `before`, by one publish.
    # A counter that moved in between reads below `before` then; the next try is fresh.
    for attempt in range(1, 4):
        before = expected()
        found = under(reader(), subtree)
        try:
            assert_between(before, found, expected(), what)
            return found
        except AssertionError:
            if attempt == 3:
                raise
            built = daemon.agentx().counters["index_builds"]
            daemon.lab.wait_for(lambda b=built: daemon.agentx().counters["index_builds"] > b,
                                20, what="an index built after the walk")
    raise AssertionError("unreachable")


PYSNMP_WORDS = {"INTEGER": "INTEGER", "GAUGE32": "Gauge32", "COUNTER32": "Counter32",
                "COUNTER64": "Counter64", "TIME_TICKS": "Timeticks",
                "OCTET_STRING": "Hex-STRING"}  # fmt: skip


def pysnmp_read(namespace, subtree: str) -> dict:
    """pysnmp's walk and bulk walk of `subtree` (tests.lab.agentx_pysnmp), in walk()'s form,
    with the OIDs of the bulk walk marked "bulk:"."""
    done = namespace.run([sys.executable, "-m", "tests.lab.agentx_pysnmp", str(SNMP_PORT),
                          subtree], env={"PYTHONPATH": str(REPO)}, timeout=120)
    read = json.loads(done.stdout)
    found = {}
    for part, prefix in (("walk", ""), ("bulk_walk", "bulk:")):
        for oid, kind, data in read[part]:
            found[prefix + oid] = (PYSNMP_WORDS[kind],
                                   bytes.fromhex(data) if kind == "OCTET_STRING" else data)
    return found


def test_vrrp_walked_by_every_manager_and_traps(lab):
    segment_ = lab.segment("vrrp")
    a, b, d = (lab.namespace(name) for name in ("a", "b", "d"))
    segment_.attach(a, [f"{A4}/24"])
    segment_.attach(b, [f"{B4}/24"])
    segment_.attach(d, [f"{D4}/24", f"{D6}/64"])
    snmp = SnmpLab(lab, d, extra_conf=trap_sinks())
    trapd = snmp.start_trap_receiver()
    snmp.start()
    daemon = AgentxDaemon(lab, d, snmp.agentx, participant=PARTICIPANT, exporter=D4)
    daemon.start()
    report = daemon.wait_connected()
    assert set(report.served) == SUBTREES and report.refused == ()

    # Alone, web61, legacy62 and v6_63 become master; then keepalived joins.
    lab.wait_for(lambda: {i.name: i.state for i in daemon.state().participant.snapshot.instances}
                 == {"web61": "MASTER", "legacy62": "MASTER", "v6_63": "MASTER",
                     "web71": "MASTER"}, 20, what="the participant's instances master")
    keepalived_pair(lab, a, b)
    # b may win the start-up election and be preempted by a: it then counts as advertising
    # for its Master_Down_Interval more (two masters); the LVSMON-MIB walk wants one.
    lab.wait_for(lambda: (s := daemon.state()) and instance(s, "web71").state == "BACKUP"
                 and (view := segment(s, 51)) is not None and view.master == A4
                 and len(view.masters) == 1, 30,
                 what="web71 preempted by a, a the one master of VRID 51")  # fmt: skip
    # The vmac instance's VIP lives on its macvlan, whose index the tables name.
    assert "vrrp.62" in daemon.interfaces()

    # snmpwalk (GetNext) and snmpbulkwalk (GetBulk), checked against the daemon's state.
    for program, subtree in (("snmpwalk", VRRP_INSTANCE_TABLE), ("snmpbulkwalk", KEEPALIVED_VRRP),
                             ("snmpwalk", VRRPV3), ("snmpbulkwalk", LVSMON)):
        found = read_between(daemon, subtree, lambda p=program, s=subtree: walk(d, p, s),
                             f"{program} {subtree}")
        assert found, (program, subtree)
    instances = read_between(daemon, VRRP_INSTANCE_TABLE,
                             lambda: walk(d, "snmpbulkwalk", "-Cr25", VRRP_INSTANCE_TABLE),
                             "vrrpInstanceTable")  # fmt: skip
    entry = format_oid(KA.VRRP_INSTANCE_ENTRY)
    assert instances[f"{entry}.2.1"] == ("Hex-STRING", b"web61")
    assert instances[f"{entry}.4.{WEB71_ROW}"] == ("INTEGER", 1)  # backup
    assert instances[f"{entry}.14.1"] == ("Gauge32", 2)  # preempt delay
    assert instances[f"{entry}.15.2"] == ("INTEGER", 1)  # VRRPv2 password
    assert instances[f"{entry}.21.1"] == ("INTEGER", 1)  # a notify hook
    assert f"{entry}.34.2" not in instances and f"{entry}.34.1" in instances  # unicast: none
    ifindex = daemon.interfaces()
    addresses = walk(d, "snmpwalk", format_oid(KA.VRRP_ADDRESS_ENTRY))
    assert addresses[f"{format_oid(KA.VRRP_ADDRESS_ENTRY)}.7.2.1"] == (
        "INTEGER", ifindex["vrrp.62"])
    operations = walk(d, "snmpwalk", format_oid(vrrpv3_mib.OPERATIONS_ENTRY))
    assert operations[f"{format_oid(vrrpv3_mib.OPERATIONS_ENTRY)}.5.{ifindex['eth0']}.62.1"] \
        == ("Hex-STRING", bytes.fromhex("00005e00013e"))  # the RFC's virtual MAC

    # The observed segment of VRID 51: a is master, both routers heard.
    eth0 = ifindex["eth0"]
    segments = read_between(daemon, LVSMON, lambda: walk(d, "snmpwalk", LVSMON), "LVSMON-MIB")
    seg = format_oid(LAYOUT.segment_entry)
    assert segments[f"{seg}.5.{eth0}.51.1"] == ("Hex-STRING", bytes([10, 35, 0, 11]))
    assert segments[f"{seg}.9.{eth0}.51.1"] == ("Gauge32", 1)  # one master: healthy

    # snmpget of chosen cells, snmpgetnext from the table, snmptable of it.
    cells = [f"{entry}.4.{row}" for row in (1, 2, 3, 4)] + [
        f"{entry}.8.1", f"{seg}.5.{eth0}.51.1", format_oid(KA.VERSION)]
    got = read_between(daemon, "1.3.6.1", lambda: walk(d, "snmpget", *cells), "snmpget",
                       only=set(cells))
    assert set(got) == set(cells)
    assert got[format_oid(KA.VERSION)][1].startswith(b"lvsmon v")
    following = walk(d, "snmpgetnext", VRRP_INSTANCE_TABLE, f"{entry}.4.{WEB71_ROW}")
    assert following == {f"{entry}.2.1": ("Hex-STRING", b"web61"),
                         f"{entry}.5.1": instances[f"{entry}.5.1"]}
    mibs = lab.tmpdir / "mibs"
    mibs.mkdir()
    columns = sorted({int(oid.split(".")[len(KA.VRRP_INSTANCE_ENTRY)]) for oid in instances})
    syntax = {"INTEGER": "Integer32", "Gauge32": "Gauge32", "Hex-STRING": "OCTET STRING"}
    kinds = {int(oid.split(".")[len(KA.VRRP_INSTANCE_ENTRY)]): kind
             for oid, (kind, _) in instances.items()}  # fmt: skip
    write_table_mib(mibs, "LVSMON-TEST-VRRP", KA.VRRP_INSTANCE_ENTRY[:-1],
                    [(number, syntax[kinds[number]]) for number in columns], index_column=1)
    rows = {row["index"]: row for row in snmptable(d, mibs, "LVSMON-TEST-VRRP",
                                                   VRRP_INSTANCE_TABLE)}
    assert sorted(rows) == ["1", "2", "3", "4"]
    for number in (2, 3, 4, 7, 8, 10, 12, 13, 30):
        for row in rows:
            kind, value = instances[f"{entry}.{number}.{row}"]
            text = f'"{value.decode()}"' if kind == "Hex-STRING" else str(value)
            assert rows[row][f"c{number}"] == text, (number, row, rows[row])

    # pysnmp, a second manager, reads the same (its walk, then its bulk walk).
    for subtree in (VRRP_INSTANCE_TABLE, format_oid(LAYOUT.segment_entry)):
        read = {}
        interfaces = daemon.interfaces()
        before = daemon.expected(daemon.state(), subtree, interfaces)
        read = pysnmp_read(d, subtree)
        after = daemon.expected(daemon.state(), subtree, interfaces)
        for prefix in ("", "bulk:"):
            part = {oid.removeprefix(prefix): value for oid, value in read.items()
                    if oid.startswith(prefix) and (prefix or not oid.startswith("bulk:"))}
            assert_between(before, part, after, f"pysnmp {prefix or 'walk:'} {subtree}")

    # `lvsmon status` and the metrics say what lvsmon serves.
    summary = daemon.cli("status")
    line = next(text for text in summary.splitlines() if text.startswith("AgentX:"))
    assert line.startswith(f"AgentX: connected to {snmp.agentx}, serving "), summary
    assert set(line.split("serving ")[1].split(", ")) == SUBTREES, line
    metrics = daemon.metrics()
    assert "lvsmon_agentx_connected 1.0" in metrics
    for subtree in SUBTREES:
        assert f'lvsmon_agentx_subtree_served{{subtree="{subtree}"}} 1.0' in metrics
    assert 'lvsmon_frontend_up{frontend="agentx"} 1.0' in metrics

    # Traps: web71 preempted by a (vrrpInstanceStateChange, backup).
    web71_state = KA.VRRP_INSTANCE_ENTRY + (4, WEB71_ROW)
    lab.wait_for(lambda: traps_of(trapd.log(), KA.VRRP_INSTANCE_STATE_CHANGE, {
        web71_state: "INTEGER: 1", KA.VRRP_INSTANCE_ENTRY + (2, WEB71_ROW): 'STRING: "web71"',
        KA.ROUTER_ID: f'STRING: "{socket.gethostname()}"'}), 10,
        what="vrrpInstanceStateChange (backup) at snmptrapd")

    # A split brain: a and b stop hearing each other; d hears both.
    seg51 = LAYOUT.segment_entry + (4, eth0, 51, 1)
    block_vrrp(a, B4)
    block_vrrp(b, A4)
    lab.wait_for(lambda: traps_of(trapd.log(), LAYOUT.notification(lvsmon_mib.SPLIT_BRAIN),
                                  {seg51: 'STRING: "eth0"'}), 30,
                 what="lvsmonSplitBrain at snmptrapd")  # fmt: skip
    split = traps_of(trapd.log(), LAYOUT.notification(lvsmon_mib.SPLIT_BRAIN))[0]
    assert A4 in split[format_oid(LAYOUT.notify + (1, 0))]  # the routers involved
    unblock_vrrp(a)
    unblock_vrrp(b)
    lab.wait_for(lambda: traps_of(trapd.log(), LAYOUT.notification(lvsmon_mib.SPLIT_BRAIN_END),
                                  {seg51: 'STRING: "eth0"'}), 30,
                 what="lvsmonSplitBrainEnd at snmptrapd")  # fmt: skip

    # a dies: web71 takes VRID 71 over (Master_Down_Interval: masterNoResponse).
    # web71 was master once already (at start, also masterNoResponse): count what is new.
    index71 = (eth0, 71, 1)
    new_master = {vrrpv3_mib.STATISTICS_ENTRY + (2, *index71): "INTEGER: 3",
                  vrrpv3_mib.OPERATIONS_ENTRY + (3, *index71): "Hex-STRING: 0A 23 00 1E"}
    to_master = {web71_state: "INTEGER: 2"}
    seen = (len(traps_of(trapd.log(), vrrpv3_mib.NEW_MASTER, new_master)),
            len(traps_of(trapd.log(), KA.VRRP_INSTANCE_STATE_CHANGE, to_master)))
    assert seen[0] >= 1 and seen[1] >= 1, seen  # the start's
    kill_hard(lab.process("keepalived-a"))
    lab.wait_for(lambda: len(traps_of(trapd.log(), vrrpv3_mib.NEW_MASTER, new_master))
                 > seen[0], 20, what="vrrpv3NewMaster for web71")
    lab.wait_for(lambda: len(traps_of(trapd.log(), KA.VRRP_INSTANCE_STATE_CHANGE, to_master))
                 > seen[1], 20, what="vrrpInstanceStateChange (master) for web71")
    state = daemon.state()
    web71 = instance(state, "web71")
    assert web71.new_master_reason == "master_no_response" and web71.master_transitions == 2
    counters = state.frontends["agentx"].counters
    assert counters["notifications_sent"] >= 5, counters
    assert counters.get("slowest_answer_microseconds", 0) < 1_000_000
    assert sum(value for key, value in counters.items() if key.startswith("bad_pdus.")) == 0
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(15) == 0, daemon.process.describe()
    assert "Traceback" not in daemon.process.log(), daemon.process.log()


def test_next_to_keepalived_agent_on_one_snmpd(lab):
    d = lab.namespace("d")
    lab.segment("lan").attach(d, [f"{D4}/24"])
    snmp = SnmpLab(lab, d)
    snmp.start()
    conf = snmp_global_defs("ka-node", snmp.agentx) + vrrp_instance(
        "VI_1", vrid=81, priority=150, advert_int=0.5, vips=["10.35.0.181/24"])
    keepalived = spawn_keepalived(lab, d, conf)
    lab.wait_for(lambda: walk(d, "snmpwalk", VRRP_INSTANCE_TABLE), 30,
                 what="keepalived's vrrpInstanceTable through snmpd")
    daemon = AgentxDaemon(lab, d, snmp.agentx, exporter=D4, participant=[
        {"name": "lv91", "interface": "eth0", "vrid": 91, "priority": 150,
         "advert_interval": 0.5, "vips": ["10.35.0.191/24"]}])  # fmt: skip
    daemon.start()

    def refused():
        report = daemon.agentx()
        return report if report is not None and report.connected and report.refused else None

    report = lab.wait_for(refused, 20, what="lvsmon registered next to keepalived")
    taken = {format_oid(KA.KEEPALIVED + (2,)), format_oid(vrrpv3_mib.VRRPV3)}
    assert taken <= set(report.refused), report
    assert LVSMON in report.served and set(report.served) | set(report.refused) == SUBTREES
    # Both walkable: keepalived's instance table, lvsmon's own MIB.
    instances = walk(d, "snmpwalk", VRRP_INSTANCE_TABLE)
    assert instances[f"{VRRP_INSTANCE_TABLE}.1.2.1"] == ("Hex-STRING", b"VI_1")
    assert len(under(instances, f"{VRRP_INSTANCE_TABLE}.1.2")) == 1  # not lvsmon's lv91
    own = read_between(daemon, LVSMON, lambda: walk(d, "snmpbulkwalk", LVSMON), "LVSMON-MIB")
    assert own[format_oid(LAYOUT.daemon + (3, 0))] == ("INTEGER", daemon.process.pid)
    # lvsmon says which subtrees it left, in `lvsmon status` and in a metric.
    line = next(text for text in daemon.cli("status").splitlines()
                if text.startswith("AgentX:"))  # fmt: skip
    for subtree in taken:
        assert f"{subtree} (another subagent holds it)" in line, line
    metrics = daemon.metrics()
    for subtree in taken:
        assert f'lvsmon_agentx_subtree_served{{subtree="{subtree}"}} 0.0' in metrics
    assert f'lvsmon_agentx_subtree_served{{subtree="{LVSMON}"}} 1.0' in metrics
    assert "not served (duplicateRegistration" in daemon.process.log()
    keepalived.check_running()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(15) == 0, daemon.process.describe()
    assert "Traceback" not in daemon.process.log()
    keepalived.check_running()


def test_snmpd_restarted_and_down_for_a_minute(lab):
    d = lab.namespace("d")
    lab.segment("lan").attach(d, [f"{D4}/24"])
    snmp = SnmpLab(lab, d)
    snmp.start()
    daemon = AgentxDaemon(lab, d, snmp.agentx, participant=[
        {"name": "lv91", "interface": "eth0", "vrid": 91, "priority": 150,
         "advert_interval": 0.5, "vips": ["10.35.0.191/24"]}])  # fmt: skip
    daemon.start()
    daemon.wait_connected()
    version = format_oid(LAYOUT.daemon + (1, 0))

    def walk_works() -> bool:
        done = d.run(["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-t", "1", "-r", "0",
                      f"127.0.0.1:{SNMP_PORT}", LVSMON], check=False, env={"MIBS": ""})
        return done.returncode == 0 and f".{version} = " in done.stdout

    def restart(name: str) -> float:
        snmp.start(name)  # returns once snmpd answers SNMP: it is back
        back = time.monotonic()
        lab.wait_for(walk_works, 10, what="lvsmon's subtree walkable again", interval=0.05)
        return time.monotonic() - back

    assert walk_works()
    # A minute without snmpd: the daemon goes on, retrying, and logs no line per attempt.
    snmp.snmpd.send_signal(signal.SIGKILL)
    snmp.snmpd.wait(10)
    lab.wait_for(lambda: not daemon.agentx().connected, 15, what="the loss noticed")
    lines_before = len(daemon.process.log().splitlines())
    attempts_before = daemon.agentx().counters["connect_attempts"]
    went = time.monotonic()
    lab.wait_for(lambda: time.monotonic() - went >= 60 and daemon.state(), 90,
                 what="a minute without snmpd", interval=1.0)
    state = daemon.state()
    attempts = state.frontends["agentx"].counters["connect_attempts"] - attempts_before
    during = daemon.process.log().splitlines()[lines_before:]
    print(f"a minute without snmpd: {attempts} attempts; log lines: {during}")
    assert attempts >= 25, attempts
    assert [line for line in during if "AgentX" in line] == [], during
    assert state.participant.available  # the rest of the daemon went on
    seconds = restart("snmpd-2")
    print(f"after a minute: walks work {seconds:.2f} s after snmpd is back")
    assert seconds < 5.0, seconds
    lab.wait_for(lambda: "open again" in daemon.process.log(), 5, what="the end logged")

    # Killed and started again, twice in a row.
    for attempt in (3, 4):
        snmp.snmpd.send_signal(signal.SIGKILL)
        snmp.snmpd.wait(10)
        lab.wait_for(lambda: not daemon.agentx().connected, 15, what="the loss noticed")
        seconds = restart(f"snmpd-{attempt}")
        print(f"restart {attempt}: walks work {seconds:.2f} s after snmpd is back")
        assert seconds < 5.0, seconds
    # The state is reported every so often: wait for one after the last reconnection.
    lab.wait_for(lambda: daemon.agentx().counters["reconnects"] == 3, 20,
                 what="three reconnections in the daemon's state")
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(15) == 0, daemon.process.describe()
    assert "Traceback" not in daemon.process.log()


def test_a_source_that_never_answers_delays_no_answer(lab):
    d = lab.namespace("d")
    lab.segment("lan").attach(d, [f"{D4}/24"])
    # snmpd gives a subagent 1 s per answer and no retry: a late answer would fail the walk.
    snmp = SnmpLab(lab, d, extra_conf=("agentXTimeout 1", "agentXRetries 0"))
    snmp.start()
    procfs = lab.tmpdir / "procfs"
    (procfs / "net").mkdir(parents=True)
    os.mkfifo(procfs / "net" / "ip_vs")  # opening it for reading waits for a writer: forever
    daemon = AgentxDaemon(lab, d, snmp.agentx, ipvs=(
        f'interval = 0.5\nsource = "procfs"\nprocfs_root = "{procfs}"'), participant=[
        {"name": f"lv{vrid}", "interface": "eth0", "vrid": vrid, "priority": 150,
         "advert_interval": 0.5, "vips": [f"10.35.1.{vrid}/24"]} for vrid in range(1, 21)])
    daemon.start()
    daemon.wait_connected()
    lab.wait_for(lambda: len([i for i in daemon.state().participant.snapshot.instances
                              if i.state == "MASTER"]) == 20, 30, what="20 instances master")
    assert not daemon.state().ipvs.available  # the read hangs on the FIFO
    fifo = procfs / "net" / "ip_vs"
    slowest, walks, started = 0.0, 0, time.monotonic()
    while time.monotonic() - started < 20:  # the index is rebuilt twice a second meanwhile
        for program, subtree in (("snmpbulkwalk", KEEPALIVED_VRRP), ("snmpwalk", LVSMON),
                                 ("snmpget", format_oid(KA.VERSION))):
            began = time.monotonic()
            done = d.run([program, "-v2c", "-c", "public", "-On", "-t", "1", "-r", "0",
                          f"127.0.0.1:{SNMP_PORT}", subtree], check=False, env={"MIBS": ""})
            seconds = time.monotonic() - began
            assert done.returncode == 0 and "Timeout" not in done.stderr, (program, done.stderr)
            assert "No Such" not in done.stdout, done.stdout
            slowest = max(slowest, seconds)
            walks += 1
    state = daemon.state()
    counters = state.frontends["agentx"].counters
    print(f"{walks} reads while IPVS hangs; slowest whole read {slowest:.3f} s; slowest "
          f"AgentX answer {counters['slowest_answer_microseconds'] / 1e6:.4f} s; "
          f"{counters['index_builds']} index builds")
    assert counters["slowest_answer_microseconds"] < 1_000_000
    assert counters["reconnects"] == 0 and counters["sessions_opened"] == 1
    assert not state.ipvs.available and state.ipvs.attempts == 0  # still the first read
    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # EOF: the read ends, for the exit
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(20) == 0, daemon.process.describe()
    assert "Traceback" not in daemon.process.log()


def test_hostile_master_leaves_the_daemon_running(lab):
    d = lab.namespace("d")
    lab.segment("lan").attach(d, [f"{D4}/24"])
    path = lab.tmpdir / "fake-master.sock"
    daemon = AgentxDaemon(lab, d, str(path), exporter=D4, agentx="timeout = 2.0",
                          participant=[{"name": "lv91", "interface": "eth0", "vrid": 91,
                                        "priority": 150, "advert_interval": 0.5,
                                        "vips": ["10.35.0.191/24"]}])  # fmt: skip

    async def scenario():
        master = FakeMaster(path, expected_registers=len(SUBTREES),
                            probes=PROBES)
        await master.start()
        for reason, data in HOSTILE:
            conn = await master.connection(timeout=30)
            await conn.handshake()
            answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                              ranges=(SearchRange(LAYOUT.daemon + (1, 0)),)))
            assert answer.varbinds[0].value.type == ValueType.OCTET_STRING
            await conn.send_in_pieces(data)  # in pieces, as a stream may cut it
            await conn.expect_close(CloseReason.PROTOCOL_ERROR if reason in PROTOCOL
                                    else CloseReason.PARSE_ERROR)
            # The rest of the daemon answers meanwhile.
            state = await asyncio.to_thread(daemon.state)
            assert state.participant.enabled
        conn = await master.connection(timeout=30)
        await conn.handshake()
        answer = await conn.ask(codec.Get(session_id=SESSION, packet_id=conn.next_id(),
                                          ranges=(SearchRange(LAYOUT.daemon + (3, 0)),)))
        assert answer.varbinds[0].value == Value.integer32(daemon.process.pid)
        await master.stop()

    # Started from this thread: the lab ties a process's life to the thread that spawned
    # it (PR_SET_PDEATHSIG), and asyncio.to_thread's threads end with asyncio.run. Until
    # the fake master listens, the daemon retries.
    daemon.start()
    # lv91's start (INIT -> BACKUP -> MASTER) raises notifications; sent while a scripted
    # session is open, a Notify would come where the fake master reads a Response or the
    # Close. So the fake master listens only once lv91 is master.
    lab.wait_for(lambda: [i.state for i in daemon.state().participant.snapshot.instances]
                 == ["MASTER"], 30, what="lv91 master before the fake master listens")
    asyncio.run(asyncio.wait_for(scenario(), 300))

    def counted():
        report = daemon.agentx()
        bad = {key.removeprefix("bad_pdus."): value for key, value in report.counters.items()
               if key.startswith("bad_pdus.") and value}
        # The state is reported every so often: wait for one after the last reconnection.
        return bad if len(bad) == len(HOSTILE) and (
            report.counters["reconnects"] == len(HOSTILE)) else None

    bad = lab.wait_for(counted, 20, what="every hostile PDU and reconnection in the state")
    assert bad == {reason: 1 for reason, _ in HOSTILE}
    metrics = daemon.metrics()
    for reason, _ in HOSTILE:
        assert f'lvsmon_agentx_bad_pdus_total{{reason="{reason}"}} 1.0' in metrics, reason
    daemon.process.check_running()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(15) == 0, daemon.process.describe()
    assert "Traceback" not in daemon.process.log(), daemon.process.log()
