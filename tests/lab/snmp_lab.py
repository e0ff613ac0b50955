"""net-snmp in a lab namespace: snmpd as AgentX master, snmptrapd, the test subagent, managers.

    ns = lab.namespace("snmp")
    snmpd = SnmpLab(lab, ns)                     # files under lab.tmpdir/snmp
    snmpd.start()                                # snmpd -f, UDP 127.0.0.1:16161 in ns
    agent = snmpd.spawn_agent("--label", "x")    # tests.lab.agentx_agent, status JSON
    snmpd.wait_served(agent)
    rows = snmpd.tool("snmpwalk", BASE_TEXT)     # [(oid, type, text)], -On numeric

Everything listens on 127.0.0.1 inside the namespace; the AgentX socket is a unix
socket in the lab's temp dir (mode 0600 by agentXPerms), or tcp:127.0.0.1:PORT in the
namespace. MIBS is empty for every net-snmp program: Debian ships no IETF base MIBs,
and numeric OIDs (-On) need none. snmptable needs to know a table's columns: it gets a
small test MIB of its own (TEST_MIB below, no IMPORTS, written to the temp dir).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from lvsmon_snmp.agentx import AgentxSettings, Value, ValueType, format_oid

REPO = Path(__file__).resolve().parents[2]
SNMP_PORT = 16161
TRAP_PORT = 16162
BASE = AgentxSettings().base  # the test subagent's default base
BASE_TEXT = format_oid(BASE)
TABLE = BASE + (1,)
TRAP_OID = BASE + (0, 1)
COMMUNITY = "public"
WRITE_COMMUNITY = "private"
TOOL_ENV = {"MIBS": ""}

_LINE = re.compile(r"^(\.[0-9.]+) = (?:([A-Za-z0-9-]+): )?(.*)$")


def expected_text(value: Value) -> tuple[str, str]:
    """How snmpwalk -On prints a value: (type, text)."""
    kind, data = value.type, value.data
    if kind is ValueType.INTEGER:
        return "INTEGER", str(data)
    if kind is ValueType.OCTET_STRING:
        return "STRING", f'"{data.decode()}"'
    if kind is ValueType.OBJECT_IDENTIFIER:
        return "OID", "." + format_oid(data)
    if kind is ValueType.IP_ADDRESS:
        return "IpAddress", ".".join(str(byte) for byte in data)
    if kind is ValueType.TIME_TICKS:
        return "Timeticks", f"({data})"  # followed by the human form, compared by prefix
    if kind is ValueType.OPAQUE:
        return "OPAQUE", " ".join(f"{byte:02X}" for byte in data)
    return {ValueType.COUNTER32: "Counter32", ValueType.GAUGE32: "Gauge32",
            ValueType.COUNTER64: "Counter64"}[kind], str(data)


def parse_varbinds(output: str) -> list[tuple[str, str, str]]:
    """(oid, type, text) per line of net-snmp's -On output; type "" for noSuch*/end."""
    found = []
    for line in output.splitlines():
        match = _LINE.match(line.strip())
        if match:
            found.append((match[1].lstrip("."), match[2] or "", match[3]))
    return found


def write_table_mib(directory, module: str, table: tuple[int, ...],
                    columns: list[tuple[int, str]], index_column: int = 100) -> None:
    """A MIB module with no IMPORTS (Debian has no base MIBs) naming one table's columns
    (number, SYNTAX) as c<number>, so that snmptable can show it: -M directory -m module.
    The entry's INDEX object is column `index_column`, not-accessible."""
    prefix = module.lower().replace("-", "")
    entry = f"{prefix}Entry"
    sequence = ",\n    ".join([f"c{number} {syntax}" for number, syntax in columns]
                              + [f"c{index_column} Integer32"])
    objects = "".join(
        f"c{number} OBJECT-TYPE\n    SYNTAX {syntax}\n    MAX-ACCESS read-only\n"
        f"    STATUS current\n    DESCRIPTION \"column {number}\"\n    ::= {{ {entry} {number} }}\n"
        for number, syntax in columns)
    root = " ".join(map(str, table[1:-1]))
    (Path(directory) / f"{module}.txt").write_text(f"""{module} DEFINITIONS ::= BEGIN
{prefix}Root OBJECT IDENTIFIER ::= {{ iso {root} }}
{prefix}Table OBJECT-TYPE
    SYNTAX SEQUENCE OF {prefix.capitalize()}Entry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "the table"
    ::= {{ {prefix}Root {table[-1]} }}
{entry} OBJECT-TYPE
    SYNTAX {prefix.capitalize()}Entry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "a row"
    INDEX {{ c{index_column} }}
    ::= {{ {prefix}Table 1 }}
{prefix.capitalize()}Entry ::= SEQUENCE {{
    {sequence}
}}
{objects}c{index_column} OBJECT-TYPE
    SYNTAX Integer32
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "the row index"
    ::= {{ {entry} {index_column} }}
END
""")


def snmptable(namespace, mib_dir, module: str, table: str) -> list[dict[str, str]]:
    """snmptable's rows as {"index": ..., "c<number>": text} (-Ci -Cf "|", MIBS empty)."""
    done = namespace.run(["snmptable", "-v2c", "-c", COMMUNITY, "-M", str(mib_dir), "-m",
                          module, "-Ci", "-Cf", "|", f"127.0.0.1:{SNMP_PORT}", "." + table],
                         env=TOOL_ENV, timeout=60)
    lines = [line for line in done.stdout.splitlines() if "|" in line]
    header = lines[0].split("|")
    return [dict(zip(header, line.split("|"), strict=True)) for line in lines[1:]]


class SnmpLab:
    def __init__(self, lab, namespace, *, agentx: str | None = None,
                 extra_conf: tuple[str, ...] = (), name: str = "snmp"):
        self.lab = lab
        self.ns = namespace
        self.dir = lab.tmpdir / name  # one per SnmpLab: give each of several its own name
        self.dir.mkdir(exist_ok=True)
        self.socket = str(self.dir / "agentx.sock")
        self.agentx = agentx or self.socket
        self.conf = self.dir / "snmpd.conf"
        self.conf.write_text("\n".join([
            "master agentx",
            f"agentXSocket {self.agentx}",
            "agentXPerms 0600 0700",  # only root (the test) may talk to the master
            f"agentaddress udp:127.0.0.1:{SNMP_PORT}",
            f"rocommunity {COMMUNITY} 127.0.0.1",
            f"rwcommunity {WRITE_COMMUNITY} 127.0.0.1",
            *extra_conf,
        ]) + "\n")
        self.snmpd = None
        self.snmptrapd = None
        self.agents: dict[str, Path] = {}

    # -- daemons --------------------------------------------------------------

    def start(self, name: str = "snmpd"):
        env = {"MIBS": "", "SNMP_PERSISTENT_DIR": str(self.dir / "persist")}
        self.snmpd = self.ns.spawn(["snmpd", "-f", "-Lo", "-C", "-c", str(self.conf),
                                    "-p", str(self.dir / "snmpd.pid")], name=name, env=env)
        self.lab.wait_for(self.answers, 15, what="snmpd answering on UDP")
        return self.snmpd

    def answers(self) -> bool:
        """snmpd answers a get of its own sysUpTime.0."""
        done = self.ns.run(["snmpget", "-v2c", "-c", COMMUNITY, "-On", "-t", "0.5", "-r", "0",
                            f"127.0.0.1:{SNMP_PORT}", ".1.3.6.1.2.1.1.3.0"], check=False,
                           env=TOOL_ENV, timeout=10)
        return done.returncode == 0 and "Timeticks" in done.stdout

    def start_trap_receiver(self, name: str = "snmptrapd"):
        conf = self.dir / "snmptrapd.conf"
        conf.write_text("disableAuthorization yes\n")
        env = {"MIBS": "", "SNMP_PERSISTENT_DIR": str(self.dir / "trapd-persist")}
        self.snmptrapd = self.ns.spawn(["snmptrapd", "-f", "-Lo", "-C", "-c", str(conf), "-On",
                                        "-n", f"udp:127.0.0.1:{TRAP_PORT}"],
                                       name=name, env=env)
        self.lab.wait_for(lambda: "NET-SNMP version" in self.snmptrapd.log(), 15,
                          what="snmptrapd started")
        return self.snmptrapd

    # -- the test subagent ------------------------------------------------------

    def spawn_agent(self, *args: str, name: str = "agent", master: str | None = None):
        status = self.dir / f"{name}.json"
        self.agents[name] = status
        argv = [sys.executable, "-m", "tests.lab.agentx_agent", "--master",
                master or self.agentx, "--status", str(status), *args]
        return self.ns.spawn(argv, name=name, env={"PYTHONPATH": str(REPO)})

    def status(self, name: str = "agent") -> dict:
        try:
            return json.loads(self.agents[name].read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def wait_served(self, name: str = "agent", timeout: float = 20) -> dict:
        return self.lab.wait_for(lambda: self.status(name).get("connected") and self.status(name),
                                 timeout, what=f"subagent {name} registered with snmpd")

    # -- managers -------------------------------------------------------------

    def tool(self, program: str, *args: str, community: str = COMMUNITY,
             timeout: float = 2, retries: int = 1, check: bool = True):
        """Run a net-snmp tool against snmpd (-v2c, -On); parsed varbinds if check."""
        argv = [program, "-v2c", "-c", community, "-On", "-t", f"{timeout:g}", "-r",
                str(retries), f"127.0.0.1:{SNMP_PORT}", *args]
        done = self.ns.run(argv, check=check, env=TOOL_ENV, timeout=60)
        return parse_varbinds(done.stdout) if check else done
