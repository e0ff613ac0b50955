"""lvsmon's AgentX subagent under a real net-snmp snmpd (`master agentx`) in a lab namespace.

The subagent is tests.lab.agentx_agent (a real process running lvsmon_snmp's
Subagent with a test index of every value type, see there); snmpd, snmptrapd and
the managers run in the namespace, on 127.0.0.1. Managers: net-snmp's snmpwalk,
snmpbulkwalk, snmpget, snmpgetnext, snmptable, snmpset, and pysnmp
(tests.lab.agentx_pysnmp) as a second, independent one.
"""

from __future__ import annotations

import json
import signal
import sys
import time

import pytest

from lvsmon_snmp.agentx import format_oid
from tests.lab.agentx_agent import ROWS, build_index, row_values
from tests.lab.snmp_lab import (
    BASE,
    BASE_TEXT,
    REPO,
    SNMP_PORT,
    TABLE,
    TRAP_OID,
    WRITE_COMMUNITY,
    SnmpLab,
    expected_text,
    snmptable,
    write_table_mib,
)

pytestmark = pytest.mark.lab

COLUMNS = len(row_values(1))
TEST_MIB = "LVSMON-AGENTX-TEST-MIB"
_MIB_SYNTAX = ["Integer32", "OCTET STRING", "OBJECT IDENTIFIER", "IpAddress", "Counter32",
               "Gauge32", "TimeTicks", "Opaque", "Counter64"]


def expected_rows(base=BASE, label="lvsmon", generation=1) -> list[tuple[str, str, str]]:
    """What a walk of `base` must print, in order."""
    index = build_index([base], ROWS, label, generation)
    return [(format_oid(oid), *expected_text(value)) for oid, value in index]


def same(got, want) -> bool:
    """Walk output equals the expectation (Timeticks compared by their raw number)."""
    if len(got) != len(want):
        return False
    return all(g[:2] == w[:2] and (g[2] == w[2] or (w[1] == "Timeticks" and
                                                    g[2].startswith(w[2] + " ")))
               for g, w in zip(got, want, strict=True))


@pytest.fixture
def snmp(lab):
    return SnmpLab(lab, lab.namespace("snmp"))


def test_every_type_read_by_every_manager(lab, snmp):
    snmp.start()
    snmp.spawn_agent()
    status = snmp.wait_served()
    assert status["served_subtrees"] == [BASE_TEXT]
    want = expected_rows()

    # snmpwalk (GetNext) and snmpbulkwalk (GetBulk) print exactly the index.
    walk = snmp.tool("snmpwalk", BASE_TEXT)
    assert same(walk, want), walk
    bulk = snmp.tool("snmpbulkwalk", "-Cr7", BASE_TEXT)
    assert same(bulk, want), bulk

    # snmpget: every cell, a missing instance, a missing object.
    cells = [oid for oid, _, _ in want]
    got = snmp.tool("snmpget", *cells)
    assert same(got, want), got
    missing = snmp.tool("snmpget", f"{BASE_TEXT}.2.1", f"{BASE_TEXT}.5.0")
    assert [text for _, _, text in missing] == [
        "No Such Instance currently exists at this OID",
        "No Such Object available on this agent at this OID"]

    # snmpgetnext from the subtree, from between two rows, from the last OID.
    first, second, last = want[0], want[1], want[-1]
    got = snmp.tool("snmpgetnext", BASE_TEXT, f"{first[0]}.5", last[0])
    assert got[0] == first and got[1] == second
    assert got[2][0] != last[0]  # past our subtree: snmpd goes on past it
    assert not got[2][0].startswith(BASE_TEXT + ".")

    # snmptable needs a MIB that names the table's columns: a test MIB without IMPORTS
    # (no base MIBs here), loaded by -M/-m. -Ci shows the row index; -On would make
    # snmptable lose the table ("Was that a table?"), so it is left out here.
    mibs = lab.tmpdir / "mibs"
    mibs.mkdir()
    write_table_mib(mibs, TEST_MIB, TABLE, list(enumerate(_MIB_SYNTAX, start=1)))
    rows = snmptable(snmp.ns, mibs, TEST_MIB, format_oid(TABLE))
    assert list(rows[0]) == ["index", *[f"c{n}" for n in range(1, COLUMNS + 1)]], rows
    assert len(rows) == ROWS, rows
    for row, cells in enumerate(rows, start=1):
        assert cells["index"] == str(row)
        assert cells["c1"] == str(row_values(row)[0].data)
        assert cells["c2"] == f'"row {row} text"'
        assert cells["c5"] == str(row_values(row)[4].data)  # Counter32
        assert cells["c9"] == str(row_values(row)[8].data)  # Counter64

    # snmpset reaches the subagent's TestSet: refused notWritable.
    done = snmp.tool("snmpset", f"{BASE_TEXT}.2.0", "s", "new", community=WRITE_COMMUNITY,
                     check=False)
    assert done.returncode != 0 and "notWritable" in done.stdout + done.stderr, done
    assert snmp.tool("snmpget", f"{BASE_TEXT}.2.0")[0][2] == '"lvsmon"'

    # pysnmp as a second manager: typed values equal to the index's.
    index = build_index([BASE], ROWS, "lvsmon", 1)
    expected = [[format_oid(oid), value.type.name, _plain(value.data)] for oid, value in index]
    done = snmp.ns.run([sys.executable, "-m", "tests.lab.agentx_pysnmp", str(SNMP_PORT),
                        BASE_TEXT], env={"PYTHONPATH": str(REPO)}, timeout=60)
    read = json.loads(done.stdout)
    assert read["walk"] == expected
    assert read["bulk_walk"] == expected
    assert read["get"] == expected
    assert read["next"] == expected[1]  # get-next of the first OID

    # The status file is rewritten every 0.2 s: wait for it to count the snmpset.
    answered = lab.wait_for(lambda: snmp.status().get("pdus_answered", {}).get("testSet")
                            and snmp.status()["pdus_answered"], 10,
                            what="the status file counting the TestSet")
    assert answered["getNext"] > 0 and answered["get"] > 0 and answered["testSet"] == 1
    assert sum(snmp.status()["bad_pdus"].values()) == 0


def _plain(data):
    if isinstance(data, bytes):
        return data.hex()
    if isinstance(data, tuple):
        return format_oid(data)
    return data


def test_tcp_agentx_socket(lab):
    ns = lab.namespace("snmptcp")
    snmp = SnmpLab(lab, ns, agentx="tcp:127.0.0.1:7050")
    snmp.start()
    snmp.spawn_agent()
    snmp.wait_served()
    assert same(snmp.tool("snmpbulkwalk", BASE_TEXT), expected_rows())


# -- snmpd going away and coming back ---------------------------------------------


def walk_works(snmp) -> bool:
    done = snmp.tool("snmpbulkwalk", BASE_TEXT, check=False, timeout=1, retries=0)
    return done.returncode == 0 and same(parse(done.stdout), expected_rows())


def parse(output: str):
    from tests.lab.snmp_lab import parse_varbinds

    return parse_varbinds(output)


def kill_snmpd(snmp) -> None:
    snmp.snmpd.send_signal(signal.SIGKILL)  # a crash: no goodbye on the AgentX socket
    snmp.snmpd.wait(10)


def restart_and_time(lab, snmp, name: str) -> float:
    """Start snmpd again; seconds from its first SNMP answer until our walk works."""
    snmp.start(name)  # returns once snmpd answers SNMP: it is back
    back = time.monotonic()
    lab.wait_for(lambda: walk_works(snmp), 10, what="walk of the subagent's subtree",
                 interval=0.05)
    return time.monotonic() - back


def test_snmpd_killed_and_restarted(lab, snmp):
    snmp.start()
    agent = snmp.spawn_agent()
    snmp.wait_served()
    assert walk_works(snmp)
    for attempt in (2, 3):
        kill_snmpd(snmp)
        lab.wait_for(lambda: not snmp.status().get("connected"), 10,
                     what="the subagent noticing the master is gone")
        seconds = restart_and_time(lab, snmp, f"snmpd-{attempt}")
        print(f"restart {attempt}: walks work {seconds:.2f} s after snmpd answers again")
        assert seconds < 5.0, f"{seconds:.2f} s"
        # The status file is rewritten every 0.2 s, so it can lag the walk that just
        # worked: wait for it to show this session before the next kill reads it.
        lab.wait_for(lambda n=attempt - 1: snmp.status().get("reconnects") == n
                     and snmp.status().get("connected"), 10,
                     what=f"status file showing reconnect {attempt - 1}")
    status = snmp.status()
    assert status["reconnects"] == 2 and status["session_ends"] == {"eof": 2}
    agent.check_running()


def test_snmpd_down_for_a_minute_retries_quietly(lab, snmp):
    snmp.start()
    agent = snmp.spawn_agent()
    snmp.wait_served()
    kill_snmpd(snmp)
    lab.wait_for(lambda: not snmp.status().get("connected"), 10, what="outage noticed")
    lines_before = len(agent.log().splitlines())
    attempts_before = snmp.status()["connect_attempts"]
    went = time.monotonic()
    # A minute without snmpd: the subagent keeps trying (about every 2 s), quietly.
    lab.wait_for(lambda: time.monotonic() - went >= 60 and snmp.status(), 90,
                 what="a minute without snmpd", interval=1.0)
    agent.check_running()
    attempts = snmp.status()["connect_attempts"] - attempts_before
    during = agent.log().splitlines()[lines_before:]
    print(f"outage: {attempts} attempts, log lines: {during}")
    assert attempts >= 25, attempts
    assert during == [], during  # the outage was logged once, when it began
    seconds = restart_and_time(lab, snmp, "snmpd-2")
    assert seconds < 5.0, f"{seconds:.2f} s"
    lab.wait_for(lambda: "open again" in agent.log(), 5, what="the end of the outage logged")
    outage_lines = agent.log().splitlines()[lines_before - 1:]
    assert len(outage_lines) == 2, outage_lines  # "ended ..." and "open again ..."
    assert "reconnecting quietly" in outage_lines[0] and "open again" in outage_lines[1]


# -- a slow data source ------------------------------------------------------------


def test_slow_index_provider_never_delays_an_answer(lab):
    # snmpd gives the subagent 1 s and no retry: a late answer would be a genErr and the
    # master would drop the session (session_ends and reconnects would show it).
    snmp = SnmpLab(lab, lab.namespace("snmp"), extra_conf=("agentXTimeout 1",
                                                           "agentXRetries 0"))
    snmp.start()
    snmp.spawn_agent("--slow", "2.0")
    snmp.wait_served()
    generation = lambda: int(snmp.tool("snmpget", f"{BASE_TEXT}.3.0")[0][2])  # noqa: E731
    first = generation()
    table = format_oid(TABLE)
    requests = 0
    # Keep asking while the provider publishes (each index takes 2 s + a busy build).
    while generation() < first + 3:
        for argv in (("snmpget", f"{BASE_TEXT}.2.0", f"{table}.1.9.3"),
                     ("snmpgetnext", f"{table}.1.1"),
                     ("snmpbulkwalk", "-Cr20", table)):
            done = snmp.tool(*argv, check=False, timeout=1, retries=0)  # 1 s, no retry
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
            assert "Timeout" not in done.stderr and "No Such" not in done.stdout, done
            requests += 1
    status = snmp.status()
    print(f"{requests} requests during {generation() - first} slow index rebuilds; "
          f"slowest answer {status['slowest_answer_seconds']} s")
    assert status["session_ends"] == {} and status["reconnects"] == 0
    assert status["slowest_answer_seconds"] < 1.0


# -- coexistence with another subagent on the same subtree ---------------------------


def test_duplicate_registration_keeps_the_rest_served(lab, snmp):
    ours_only = BASE[:-1] + (BASE[-1] + 1,)  # the next subtree over
    snmp.start()
    snmp.spawn_agent("--label", "other", name="other")  # like keepalived's agent: BASE
    snmp.wait_served("other")
    agent = snmp.spawn_agent("--label", "lvsmon", "--subtree", BASE_TEXT,
                             "--subtree", format_oid(ours_only))
    status = snmp.wait_served()
    assert status["served_subtrees"] == [format_oid(ours_only)]
    assert status["refused_subtrees"] == {BASE_TEXT: "duplicateRegistration"}
    # Both are walkable: BASE from the other subagent, the rest from us.
    assert snmp.tool("snmpget", f"{BASE_TEXT}.2.0")[0][2] == '"other"'
    assert snmp.tool("snmpget", f"{format_oid(ours_only)}.2.0")[0][2] == '"lvsmon"'
    assert same(snmp.tool("snmpwalk", format_oid(ours_only)),
                expected_rows(ours_only, "lvsmon"))
    refusals = [line for line in agent.log().splitlines() if "not served" in line]
    assert len(refusals) == 1 and BASE_TEXT in refusals[0], agent.log()
    assert snmp.status("other")["refused_subtrees"] == {}


# -- notifications -----------------------------------------------------------------


def test_notify_reaches_snmptrapd(lab):
    snmp = SnmpLab(lab, lab.namespace("snmp"), extra_conf=(
        "trap2sink 127.0.0.1:16162 public",  # SNMPv2c trap
        "informsink 127.0.0.1:16162 public",  # SNMPv2c inform, acknowledged by snmptrapd
    ))
    trapd = snmp.start_trap_receiver()
    snmp.start()
    agent = snmp.spawn_agent()
    snmp.wait_served()
    agent.send_signal(signal.SIGUSR1)
    trap_text = "." + format_oid(TRAP_OID)
    lines = lab.wait_for(lambda: [line for line in trapd.log().splitlines()
                                  if trap_text in line] if trapd.log().count(trap_text) >= 2
                         else None, 15, what="trap and inform at snmptrapd")
    for line in lines:  # both copies carry the trap OID and every varbind
        assert f".1.3.6.1.6.3.1.1.4.1.0 = OID: {trap_text}" in line
        for column, value in enumerate(row_values(1), start=1):
            kind, text = expected_text(value)
            assert f".{BASE_TEXT}.1.1.{column}.1 = {kind}: {text}" in line, (column, line)
    assert lab.wait_for(lambda: snmp.status()["notifications_sent"] == 1, 10,
                        what="the master's answer to Notify")
    assert snmp.status()["notifications_failed"] == {}
