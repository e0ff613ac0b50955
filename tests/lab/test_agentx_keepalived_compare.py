"""The same VRRP instances run by keepalived (its own SNMP agent) and by lvsmon's participant
(`lvsmon run` with [agentx]), each alone on a segment of its own with the same addresses
and its own snmpd: every column both fill in vrrpInstanceTable and vrrpv3OperationsTable
agrees, row by row, except the few that differ by nature (KNOWN_DIFFERENT, with why).

Instances (as tests/lab/test_keepalived_snmp.py): VRRPv3 over IPv4 with two VIPs, VRRPv2
with a password, an IPv6 address owner. Alone, each is master on both sides.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from lvsmon_snmp.agentx.oids import format_oid
from lvsmon_snmp.mib import keepalived_mib, vrrpv3_mib
from tests.lab.agentx_daemon import AgentxDaemon, under, walk
from tests.lab.keepalived import vrrp_instance
from tests.lab.keepalived_snmp import MASTER_STATE, KeepalivedSnmp
from tests.lab.snmp_lab import SnmpLab

pytestmark = pytest.mark.lab

ADDRESSES = ("10.41.0.11/24", "fd00:41::11/64")
CONFIG = [
    {"name": "VI_1", "vrid": 51, "priority": 150, "version": 3,
     "vips": ["10.41.0.100/24", "10.41.0.101/24"]},
    {"name": "VI_2", "vrid": 52, "priority": 100, "version": 2, "auth_pass": "secret12",
     "vips": ["10.41.0.102/24"]},
    {"name": "VI_6", "vrid": 53, "priority": 255, "version": 3, "vips": ["fd00:41::100/64"]},
]  # fmt: skip
INSTANCE_TABLE = format_oid(keepalived_mib.VRRP_INSTANCE_ENTRY[:-1])
INSTANCE_ENTRY = format_oid(keepalived_mib.VRRP_INSTANCE_ENTRY)
OPERATIONS_TABLE = format_oid(vrrpv3_mib.OPERATIONS_ENTRY[:-1])
OPERATIONS_ENTRY = format_oid(vrrpv3_mib.OPERATIONS_ENTRY)
# (table entry, column) -> why the two agents may differ there, whatever the configuration.
KNOWN_DIFFERENT = {
    (OPERATIONS_ENTRY, 12): "vrrpv3OperationsUpTime: each snmpd's sysUpTime when master",
}
# (table entry, row, column) -> why this one cell differs.
KNOWN_DIFFERENT_CELLS = {
    (INSTANCE_ENTRY, (3,), 5): "vrrpInstanceInitialState of the address owner VI_6: keepalived "
                               "shows its `state BACKUP` keyword; lvsmon has no such keyword "
                               "and an owner starts as master (RFC 5798 6.4.1)",
}  # fmt: skip
LINK_LOCAL = b"own link-local"  # an IPv6 instance's own address, different per namespace


def keepalived_instances() -> list[str]:
    return [vrrp_instance(c["name"], vrid=c["vrid"], priority=c["priority"],
                          version=c["version"], auth_pass=c.get("auth_pass"), vips=c["vips"])
            for c in CONFIG]  # fmt: skip


def lvsmon_instances() -> list[dict]:
    return [{"interface": "eth0", "advert_interval": 1, **c} for c in CONFIG]


def cells(walked: dict, entry: str, row_key, link_local: bytes) -> dict[tuple, tuple]:
    """{(row key, column): (type, value)} of a walked table; row_key(index) names a row
    the same on both sides (an ifIndex differs between namespaces), and the namespace's
    own link-local address reads LINK_LOCAL."""
    found = {}
    for oid, (kind, value) in under(walked, entry).items():
        column, *index = (int(part) for part in oid[len(entry) + 1:].split("."))
        found[(row_key(tuple(index)), column)] = (kind, LINK_LOCAL if value == link_local
                                                  else value)  # fmt: skip
    return found


def link_local(namespace) -> bytes:
    shown = json.loads(namespace.ip("-j", "-6", "addr", "show", "dev", "eth0", "scope",
                                    "link").stdout)
    (address,) = [info["local"] for link in shown for info in link["addr_info"]
                  if info.get("family") == "inet6" and info.get("scope") == "link"]
    return ipaddress.ip_address(address).packed


def test_same_instances_same_columns(lab):
    ka = KeepalivedSnmp(lab, keepalived_instances(), addresses=ADDRESSES)
    ka.start()
    lv = lab.namespace("lv")
    lab.segment("lvsnmp").attach(lv, list(ADDRESSES))
    snmp = SnmpLab(lab, lv)
    snmp.start()
    daemon = AgentxDaemon(lab, lv, snmp.agentx, participant=lvsmon_instances())
    daemon.start()
    daemon.wait_connected()
    for row in range(1, len(CONFIG) + 1):
        ka.wait_state(MASTER_STATE, row, timeout=30)
    lab.wait_for(lambda: all(i.state == "MASTER" for i in
                             daemon.state().participant.snapshot.instances), 30,
                 what="lvsmon's instances master")  # fmt: skip
    # The OID index is rebuilt from each published state off the daemon's loop: the state
    # may say master before the index snmpd is answered from does. Wait for the walk too.
    state_column = f"{INSTANCE_ENTRY}.4"
    lab.wait_for(lambda: list(under(walk(lv, "snmpwalk", state_column), state_column).values())
                 == [("INTEGER", MASTER_STATE)] * len(CONFIG), 20,
                 what="lvsmon's vrrpInstanceState master in every row")  # fmt: skip

    compared, differing = 0, []
    for table, entry, key in (
            (INSTANCE_TABLE, INSTANCE_ENTRY, lambda index: index),
            (OPERATIONS_TABLE, OPERATIONS_ENTRY, lambda index: index[1:])):  # (vrid, type)
        theirs = cells(ka.walk(table), entry, key, link_local(ka.ns))
        ours = cells(under(walk(lv, "snmpbulkwalk", table), table), entry, key, link_local(lv))
        assert {row for row, _ in theirs} == {row for row, _ in ours}, (table, theirs, ours)
        for cell in sorted(theirs.keys() & ours.keys()):
            if (entry, cell[1]) in KNOWN_DIFFERENT or (entry, *cell) in KNOWN_DIFFERENT_CELLS:
                continue
            compared += 1
            if theirs[cell] != ours[cell]:
                differing.append((table, cell, theirs[cell], ours[cell]))
        only_theirs = sorted({column for _, column in theirs.keys() - ours.keys()})
        only_ours = sorted({column for _, column in ours.keys() - theirs.keys()})
        print(f"{table}: {compared} cells compared; columns only keepalived fills "
              f"{only_theirs}, only lvsmon {only_ours}")
    assert not differing, "\n".join(map(str, differing))
    assert compared >= 60, compared
