"""keepalived's own SNMP agent as a reference: keepalived + a real snmpd in one lab namespace.

    with Lab() as lab:
        ref = KeepalivedSnmp(lab, [vrrp_instance("VI_1", vrid=51, priority=150,
                                                 vips=["10.41.0.100/24"])])
        ref.start()                                    # snmpd, then keepalived, both in "ka"
        ref.wait_state(51, MASTER_STATE)               # keepalived's agent says master
        walk = ref.walk(VRRP_INSTANCE_TABLE)           # {"1.3.6...": ("INTEGER", 2), ...}

snmpd runs as AgentX master with its socket in the lab's temp dir and answers SNMPv2c
on 127.0.0.1 inside the namespace only; keepalived (VRRP only, `enable_snmp_vrrp`,
`enable_snmp_rfcv3`, `enable_snmp_checker`, `snmp_socket` to that socket) registers its
subtrees there. Walks are by numeric OID (`snmpwalk -On -Ob`) with MIBS empty: Debian has
no IETF base MIBs, and numbers need none. Values come back typed:

    INTEGER, Gauge32, Counter32, Counter64, Timeticks -> int
    STRING / Hex-STRING (printed as hex with -Ox)     -> bytes
    OID                                               -> "1.3.6..." (no leading dot)
    IpAddress                                         -> "10.0.0.1"

This is the reference the comparison with lvsmon's participant is checked against: the
same instance configuration, what keepalived's agent answers for each column.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .keepalived import spawn_keepalived

if TYPE_CHECKING:
    from .lab import Lab
    from .netns import Namespace
    from .process import Process

SNMP_PORT = 16161
COMMUNITY = "public"
TOOL_ENV = {"MIBS": ""}  # numeric OIDs only: load no MIB (Debian has no IETF base MIBs)

KEEPALIVED = "1.3.6.1.4.1.9586.100.5"
GLOBAL = KEEPALIVED + ".1"
VRRP_INSTANCE_TABLE = KEEPALIVED + ".2.3"
VRRP_ADDRESS_TABLE = KEEPALIVED + ".2.6"
VRRPV3 = "1.3.6.1.2.1.207"
VRRPV3_OPERATIONS_TABLE = VRRPV3 + ".1.1.1"
VRRPV3_ASSOCIATED_TABLE = VRRPV3 + ".1.1.2"
VRRPV3_STATISTICS = VRRPV3 + ".1.2"

# keepalived's VrrpState values (vrrpInstanceState)
INIT_STATE, BACKUP_STATE, MASTER_STATE, FAULT_STATE = 0, 1, 2, 3

_LINE = re.compile(r"^\.?([0-9.]+) = (?:([A-Za-z0-9-]+): ?)?(.*)$")
_NUMERIC = {"INTEGER", "Gauge32", "Counter32", "Counter64", "Timeticks", "UInteger32"}


def snmp_global_defs(router_id: str, agentx_socket: str) -> str:
    return "\n".join([
        "global_defs {",
        f"    router_id {router_id}",
        "    enable_snmp_vrrp",
        "    enable_snmp_rfcv3",
        "    enable_snmp_checker",
        f"    snmp_socket {agentx_socket}",
        "}",
    ]) + "\n"  # fmt: skip


def parse_walk(output: str) -> dict[str, tuple[str, object]]:
    """net-snmp's `-On -Ox` lines -> {oid: (type, value)}; values typed as above.

    Strings print as hex (-Ox), so a value never spans lines; lines without "=" (a
    long hex string's continuation, should one wrap) are joined to the previous one.
    """
    lines: list[str] = []
    for raw in output.splitlines():
        if " = " in raw or not lines:
            lines.append(raw.strip())
        else:
            lines[-1] += " " + raw.strip()
    found: dict[str, tuple[str, object]] = {}
    for line in lines:
        match = _LINE.match(line)
        if not match:
            continue
        oid, kind, text = match[1], match[2] or "", match[3].strip()
        found[oid] = (kind, _value(kind, text))
    return found


def _value(kind: str, text: str) -> object:
    if kind in _NUMERIC:
        number = re.match(r"-?[0-9]+", text.strip("()"))  # "master(2)" has no MIB here
        return int(number[0]) if number else text
    if kind in ("Hex-STRING", "STRING"):
        if kind == "STRING":
            return text.strip('"').encode()
        return bytes.fromhex(text.replace(" ", ""))
    if kind == "OID":
        return text.lstrip(".")
    return text  # IpAddress, or an empty value printed as ""


class KeepalivedSnmp:
    """snmpd + keepalived with its SNMP agent, in namespace `short` joined to a segment."""

    def __init__(self, lab: Lab, instances: list[str], *, short: str = "ka",
                 router_id: str = "lvsmon-ref", addresses: tuple[str, ...] = ("10.41.0.11/24",
                                                                              "fd00:41::11/64"),
                 segment: str = "vrrpsnmp"):
        self.lab = lab
        self.instances = instances
        self.router_id = router_id
        self.dir = lab.tmpdir / f"snmp-{short}"
        self.dir.mkdir()
        self.dir.chmod(0o700)
        self.socket = str(self.dir / "agentx.sock")
        self.ns: Namespace = lab.namespace(short)
        lab.segment(segment).attach(self.ns, list(addresses))
        self.snmpd: Process | None = None
        self.keepalived: Process | None = None

    def start(self) -> None:
        conf = self.dir / "snmpd.conf"
        conf.write_text("\n".join([
            "master agentx",
            f"agentXSocket {self.socket}",
            "agentXPerms 0600 0700",  # only root (the test, keepalived) may be a subagent
            f"agentaddress udp:127.0.0.1:{SNMP_PORT}",
            f"rocommunity {COMMUNITY} 127.0.0.1",
        ]) + "\n")  # fmt: skip
        env = {**TOOL_ENV, "SNMP_PERSISTENT_DIR": str(self.dir / "persist")}
        self.snmpd = self.ns.spawn(["snmpd", "-f", "-Lo", "-C", "-c", str(conf),
                                    "-p", str(self.dir / "snmpd.pid")],
                                   name=f"snmpd-{self.ns.short}", env=env)  # fmt: skip
        self.lab.wait_for(self.snmpd_answers, 20, what="snmpd answering SNMPv2c")
        conf_text = snmp_global_defs(self.router_id, self.socket) + "".join(self.instances)
        self.keepalived = spawn_keepalived(self.lab, self.ns, conf_text)
        self.lab.wait_for(lambda: self.walk(VRRP_INSTANCE_TABLE), 30,
                          what="keepalived's vrrpInstanceTable served through snmpd")

    def snmpd_answers(self) -> bool:
        done = self._tool("snmpget", "1.3.6.1.2.1.1.3.0", check=False)
        return done.returncode == 0 and "Timeticks" in done.stdout

    def walk(self, oid: str) -> dict[str, tuple[str, object]]:
        """Every object under `oid` as keepalived's agent answers it (empty: nothing)."""
        done = self._tool("snmpwalk", oid, check=False)
        if done.returncode != 0:
            return {}
        return {key: value for key, value in parse_walk(done.stdout).items()
                if key.startswith(oid + ".")}  # fmt: skip

    def column(self, table: str, column: int) -> dict[tuple[int, ...], tuple[str, object]]:
        """One column of a walked table: {index: (type, value)}; `table` is the table OID."""
        prefix = f"{table}.1.{column}."
        return {tuple(int(part) for part in oid[len(prefix):].split(".")): value
                for oid, value in self.walk(f"{table}.1.{column}").items()
                if oid.startswith(prefix)}  # fmt: skip

    def state(self, instance_index: int = 1) -> int | None:
        found = self.column(VRRP_INSTANCE_TABLE, 4).get((instance_index,))
        return found[1] if found else None

    def wait_state(self, wanted: int, instance_index: int = 1, timeout: float = 20) -> None:
        self.lab.wait_for(lambda: self.state(instance_index) == wanted, timeout,
                          what=f"keepalived instance {instance_index} in state {wanted}")

    def ifindex(self, ifname: str) -> int:
        """The interface's index inside the namespace (`ip netns exec` remounts /sys)."""
        return int(self.ns.run(["cat", f"/sys/class/net/{ifname}/ifindex"]).stdout)

    def _tool(self, program: str, *args: str, check: bool = True):
        argv = [program, "-v2c", "-c", COMMUNITY, "-On", "-Ob", "-Ox", "-t", "2",
                "-r", "1", f"127.0.0.1:{SNMP_PORT}", *args]
        return self.ns.run(argv, check=check, env=TOOL_ENV, timeout=60)
