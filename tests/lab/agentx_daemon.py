"""`lvsmon run` with [agentx] on, under a real snmpd in a lab namespace, and how tests read it.

    snmp = SnmpLab(lab, d)                     # snmpd (master agentx) in namespace d
    snmp.start()
    daemon = AgentxDaemon(lab, d, snmp.agentx, participant=[{...}], exporter="10.35.0.30")
    daemon.start()                             # lvsmon run in d; waits for its socket
    daemon.wait_connected()                    # the AgentX session is open and registered
    walked = walk(d, "snmpbulkwalk", KEEPALIVED_VRRP)   # {oid text: (type, value)}
    before = daemon.expected(daemon.state(), KEEPALIVED_VRRP)
    ...
    assert_between(before, walked, after)      # a walk agrees with the daemon's own state

Walks are by numeric OID with values in hex (`-On -Ob -Ox`, MIBS empty), parsed by
tests.lab.keepalived_snmp.parse_walk. The expected values are lvsmon_snmp's mapping applied
to the state the daemon itself publishes (read over its status socket), with the ifIndex
values of the daemon's namespace: what lvsmon must serve, from another path than the
frontend's own. The daemon's state moves on while a walk runs (counters, times), so a
walk is compared with the states read just before and just after it.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

from lvsmon.model.daemon import DaemonState, FrontendState
from lvsmon.status_client import ask_state
from lvsmon_snmp.agentx.oids import format_oid
from lvsmon_snmp.agentx.values import ValueType
from lvsmon_snmp.indexer import to_value
from lvsmon_snmp.mib import keepalived_mib, lvsmon_mib, mapping, vrrpv3_mib

from .keepalived_snmp import COMMUNITY, SNMP_PORT, TOOL_ENV, parse_walk
from .vrrp_participant import participant_toml

REPO = Path(__file__).resolve().parents[2]
BASE = lvsmon_mib.DEFAULT_BASE
KEEPALIVED_VRRP = format_oid(keepalived_mib.KEEPALIVED + (2,))
VRRP_INSTANCE_TABLE = format_oid(keepalived_mib.VRRP_INSTANCE_ENTRY[:-1])
VRRPV3 = format_oid(vrrpv3_mib.VRRPV3)
LVSMON = format_oid(BASE)
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
# How net-snmp prints each AgentX type with -Ox (octet strings always in hex).
_WORDS = {ValueType.INTEGER: "INTEGER", ValueType.GAUGE32: "Gauge32",
          ValueType.COUNTER32: "Counter32", ValueType.COUNTER64: "Counter64",
          ValueType.TIME_TICKS: "Timeticks", ValueType.OCTET_STRING: "Hex-STRING",
          ValueType.IP_ADDRESS: "IpAddress", ValueType.OBJECT_IDENTIFIER: "OID"}  # fmt: skip


class AgentxDaemon:
    """lvsmon run in `namespace`, AgentX to `master`, its status socket in the lab dir."""

    def __init__(self, lab, namespace, master: str, *, participant: list[dict] = (),
                 observer: tuple[str, ...] | None = ("eth0",), exporter: str | None = None,
                 ipvs: str = "interval = 1", agentx: str = "", name: str = "lvsmon-run"):
        self.lab, self.ns, self.name = lab, namespace, name
        self.socket = str(lab.tmpdir / f"{name}-run" / "status.sock")
        self.exporter = exporter
        observer_text = (f"interfaces = {json.dumps(list(observer))}" if observer is not None
                         else "enabled = false")
        text = (f'[daemon]\nstatus_socket = "{self.socket}"\n'
                f"[observer]\n{observer_text}\n[ipvs]\n{ipvs}\n"
                f'[agentx]\nenabled = true\nmaster = "{master}"\n{agentx}\n')  # fmt: skip
        text += (f'[exporter]\nlisten = ["{exporter}:10573"]\n' if exporter
                 else "[exporter]\nenabled = false\n")  # fmt: skip
        if participant:
            text += participant_toml(list(participant))
        self.config = lab.tmpdir / f"{name}.toml"
        self.config.write_text(text)
        self.process = None

    def start(self, timeout: float = 20):
        self.process = self.ns.spawn([sys.executable, "-m", "lvsmon", "run", "--config",
                                      self.config], name=self.name, env={"PYTHONPATH": REPO})
        self.lab.wait_for(lambda: Path(self.socket).exists(), timeout,
                          what="the status socket")
        return self.process

    def state(self) -> DaemonState:
        self.process.check_running()
        return ask_state(self.socket, timeout=10)

    def agentx(self) -> FrontendState | None:
        return self.state().frontends.get("agentx")

    def wait_connected(self, timeout: float = 20) -> FrontendState:
        return self.lab.wait_for(lambda: (s := self.agentx()) is not None and s.connected and s,
                                 timeout, what="the daemon's AgentX session open")

    def cli(self, *args: str) -> str:
        done = self.ns.run([sys.executable, "-m", "lvsmon", *args, "--socket", self.socket],
                           env={"PYTHONPATH": REPO})
        return done.stdout

    def metrics(self) -> str:
        fetch = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
                 "sys.argv[1], timeout=20).read().decode())")
        return self.ns.run([sys.executable, "-c", fetch,
                            f"http://{self.exporter}:10573/metrics"]).stdout

    def interfaces(self) -> dict[str, int]:
        links = json.loads(self.ns.ip("-j", "link", "show").stdout)
        return {link["ifname"]: link["ifindex"] for link in links}

    def expected(self, state: DaemonState, subtree: str,
                 interfaces: dict[str, int] | None = None) -> dict[str, tuple[str, object]]:
        """What the daemon must serve under `subtree` for `state`, as walk() parses it."""
        interfaces = self.interfaces() if interfaces is None else interfaces
        prefix = tuple(int(part) for part in subtree.split("."))
        found = {}
        for oid, kind, value in mapping.rows(state, if_index=interfaces.get,
                                             router_id=socket.gethostname(), base=BASE):
            if oid[:len(prefix)] == prefix:
                snmp = to_value(kind, value)
                found[format_oid(oid)] = (_WORDS[snmp.type], snmp.data)
        return found


def walk(namespace, program: str, *args: str, timeout: float = 5,
         retries: int = 1) -> dict[str, tuple[str, object]]:
    """A net-snmp tool's answer as {oid: (type, value)}; raises on a failure or an error."""
    argv = [program, "-v2c", "-c", COMMUNITY, "-On", "-Ob", "-Ox", "-t", f"{timeout:g}",
            "-r", str(retries), f"127.0.0.1:{SNMP_PORT}", *args]
    done = namespace.run(argv, env=TOOL_ENV, timeout=120)
    assert "No Such" not in done.stdout and "End of MIB" not in done.stdout or (
        program in ("snmpwalk", "snmpbulkwalk")), done.stdout
    return {oid: _normal(kind, value) for oid, (kind, value) in parse_walk(done.stdout).items()}


def _normal(kind: str, value: object) -> tuple[str, object]:
    if kind == "" and value == '""':  # an empty string, which -Ox cannot show as hex
        return ("Hex-STRING", b"")
    if kind == "STRING" and isinstance(value, bytes):  # -Ox leaves printable ones alone
        return ("Hex-STRING", value)
    return (kind, value)


def under(found: dict, subtree: str) -> dict:
    return {oid: value for oid, value in found.items() if oid.startswith(subtree + ".")}


def assert_between(before: dict, walked: dict, after: dict, what: str = "walk") -> None:
    """`walked` (read between the states `before` and `after` were read) shows each object
    as one of them, or between them for a number or a DateAndTime that moved meanwhile."""
    missing = (before.keys() & after.keys()) - walked.keys()
    extra = walked.keys() - (before.keys() | after.keys())
    assert not missing and not extra, f"{what}: missing {sorted(missing)[:5]}, extra " \
                                      f"{sorted(extra)[:5]}"  # fmt: skip
    for oid, got in walked.items():
        was, now = before.get(oid), after.get(oid)
        if got in (was, now):
            continue
        assert was is not None and now is not None and got[0] == was[0] == now[0], \
            (what, oid, was, got, now)  # fmt: skip
        low, high = sorted((was[1], now[1]))
        assert low <= got[1] <= high, (what, oid, was, got, now)


def timed_walk(namespace, program: str, *args: str) -> tuple[dict, float]:
    began = time.monotonic()
    found = walk(namespace, program, *args)
    return found, time.monotonic() - began


def traps(trapd_log: str) -> list[dict[str, str]]:
    """snmptrapd -On lines, one per notification: {oid: "TYPE: text"} with snmpTrapOID.0's
    value as "trap" (no leading dots)."""
    found = []
    for line in trapd_log.splitlines():
        if f".{SNMP_TRAP_OID} = OID:" not in line:
            continue
        varbinds = {}
        for part in line.split("\t"):
            if " = " not in part:
                continue
            oid, _, value = part.strip().partition(" = ")
            varbinds[oid.split()[-1].lstrip(".")] = value.strip()
        varbinds["trap"] = varbinds[SNMP_TRAP_OID].removeprefix("OID: ").lstrip(".")
        found.append(varbinds)
    return found


def traps_of(trapd_log: str, trap_oid: tuple[int, ...],
             varbinds: dict[tuple[int, ...], str] | None = None) -> list[dict[str, str]]:
    """The notifications of this OID whose varbinds (oid -> printed value) match."""
    wanted = format_oid(trap_oid)
    return [trap for trap in traps(trapd_log) if trap["trap"] == wanted and all(
        trap.get(format_oid(oid)) == text for oid, text in (varbinds or {}).items())]
