"""keepalived's own SNMP agent, walked through a real snmpd: the reference lvsmon's
participant is compared with (same instance configuration, same columns).

One keepalived, alone on its segment, with three instances: VRRPv3 over IPv4 with two
virtual addresses, VRRPv2 with a password, and a VRRPv3 IPv6 address owner (priority
255). Alone, each becomes master. The walks of vrrpInstanceTable, vrrpAddressTable and
vrrpv3OperationsTable must say so, with the configured priorities, intervals and
addresses; the columns lvsmon serves are printed for the comparison test to build on.
"""

from __future__ import annotations

import ipaddress

import pytest

from lvsmon_snmp.mib import encode
from tests.lab.keepalived import vrrp_instance
from tests.lab.keepalived_snmp import (
    MASTER_STATE,
    VRRP_ADDRESS_TABLE,
    VRRP_INSTANCE_TABLE,
    VRRPV3_ASSOCIATED_TABLE,
    VRRPV3_OPERATIONS_TABLE,
    KeepalivedSnmp,
)

pytestmark = pytest.mark.lab

INSTANCES = [
    vrrp_instance("VI_1", vrid=51, priority=150, version=3,
                  vips=["10.41.0.100/24", "10.41.0.101/24"]),
    vrrp_instance("VI_2", vrid=52, priority=100, version=2, auth_pass="secret12",
                  vips=["10.41.0.102/24"]),
    vrrp_instance("VI_6", vrid=53, priority=255, version=3, vips=["fd00:41::100/64"]),
]


def test_keepalived_answers_what_its_configuration_says(lab):
    ref = KeepalivedSnmp(lab, INSTANCES)
    ref.start()
    for row in (1, 2, 3):
        ref.wait_state(MASTER_STATE, row)
    instances = ref.walk(VRRP_INSTANCE_TABLE)
    addresses = ref.walk(VRRP_ADDRESS_TABLE)
    operations = ref.walk(VRRPV3_OPERATIONS_TABLE)
    associated = ref.walk(VRRPV3_ASSOCIATED_TABLE)
    for name, walk in (("vrrpInstanceTable", instances), ("vrrpAddressTable", addresses),
                       ("vrrpv3OperationsTable", operations)):
        print(f"-- {name}")
        for oid in sorted(walk, key=lambda text: tuple(map(int, text.split(".")))):
            print(oid, *walk[oid])

    def col(walk, table, number):
        prefix = f"{table}.1.{number}."
        return {oid[len(prefix):]: value for oid, value in walk.items() if oid.startswith(prefix)}

    # vrrpInstanceTable: rows in configuration order, as configured, all master
    assert col(instances, VRRP_INSTANCE_TABLE, 2) == {
        "1": ("Hex-STRING", b"VI_1"), "2": ("Hex-STRING", b"VI_2"), "3": ("Hex-STRING", b"VI_6")}
    assert col(instances, VRRP_INSTANCE_TABLE, 3) == {
        "1": ("Gauge32", 51), "2": ("Gauge32", 52), "3": ("Gauge32", 53)}
    assert col(instances, VRRP_INSTANCE_TABLE, 4) == {
        row: ("INTEGER", MASTER_STATE) for row in ("1", "2", "3")}
    assert col(instances, VRRP_INSTANCE_TABLE, 7) == {
        "1": ("INTEGER", 150), "2": ("INTEGER", 100), "3": ("INTEGER", 255)}
    assert col(instances, VRRP_INSTANCE_TABLE, 8) == col(instances, VRRP_INSTANCE_TABLE, 7)
    assert col(instances, VRRP_INSTANCE_TABLE, 12) == {  # v2 seconds, v3 centiseconds
        "1": ("Gauge32", 100), "2": ("Gauge32", 1), "3": ("Gauge32", 100)}
    assert col(instances, VRRP_INSTANCE_TABLE, 15) == {  # auth: none (v3), password (v2)
        "1": ("INTEGER", 0), "2": ("INTEGER", 1), "3": ("INTEGER", 0)}
    assert col(instances, VRRP_INSTANCE_TABLE, 30) == {
        "1": ("INTEGER", 3), "2": ("INTEGER", 2), "3": ("INTEGER", 3)}
    assert col(instances, VRRP_INSTANCE_TABLE, 10) == {
        row: ("Hex-STRING", b"eth0") for row in ("1", "2", "3")}
    # vrrpAddressTable: each instance's VIPs, set while master
    assert col(addresses, VRRP_ADDRESS_TABLE, 3) == {
        "1.1": ("Hex-STRING", bytes([10, 41, 0, 100])),
        "1.2": ("Hex-STRING", bytes([10, 41, 0, 101])),
        "2.1": ("Hex-STRING", bytes([10, 41, 0, 102])),
        "3.1": ("Hex-STRING", ipaddress.ip_address("fd00:41::100").packed)}
    assert col(addresses, VRRP_ADDRESS_TABLE, 5) == {
        "1.1": ("Gauge32", 24), "1.2": ("Gauge32", 24), "2.1": ("Gauge32", 24),
        "3.1": ("Gauge32", 64)}
    assert col(addresses, VRRP_ADDRESS_TABLE, 10) == {
        row: ("INTEGER", 1) for row in ("1.1", "1.2", "2.1", "3.1")}
    ifindex = ref.ifindex("eth0")
    assert col(addresses, VRRP_ADDRESS_TABLE, 7) == {
        row: ("INTEGER", ifindex) for row in ("1.1", "1.2", "2.1", "3.1")}
    # vrrpv3OperationsTable: (ifIndex, VRID, address type), master, own primary address
    rows = {f"{ifindex}.51.1", f"{ifindex}.52.1", f"{ifindex}.53.2"}
    assert set(col(operations, VRRPV3_OPERATIONS_TABLE, 6)) == rows
    assert set(col(operations, VRRPV3_OPERATIONS_TABLE, 6).values()) == {("INTEGER", 3)}
    assert col(operations, VRRPV3_OPERATIONS_TABLE, 7) == {
        f"{ifindex}.51.1": ("Gauge32", 150), f"{ifindex}.52.1": ("Gauge32", 100),
        f"{ifindex}.53.2": ("Gauge32", 255)}
    assert col(operations, VRRPV3_OPERATIONS_TABLE, 8) == {
        f"{ifindex}.51.1": ("INTEGER", 2), f"{ifindex}.52.1": ("INTEGER", 1),
        f"{ifindex}.53.2": ("INTEGER", 1)}
    assert col(operations, VRRPV3_OPERATIONS_TABLE, 3)[f"{ifindex}.51.1"] == (
        "Hex-STRING", bytes([10, 41, 0, 11]))
    assert col(operations, VRRPV3_OPERATIONS_TABLE, 4)[f"{ifindex}.51.1"] == (
        "Hex-STRING", bytes([10, 41, 0, 11]))
    # keepalived puts an associated address's octets in the index without their length;
    # lvsmon follows RFC 6527 (length first). Recorded here so the difference stays known.
    assert f"{VRRPV3_ASSOCIATED_TABLE}.1.2.{ifindex}.51.1.10.41.0.100" in associated
    lvsmon_style = ".".join(map(str, encode.string_index(bytes([10, 41, 0, 100]))))
    assert f"{VRRPV3_ASSOCIATED_TABLE}.1.2.{ifindex}.51.1.{lvsmon_style}" not in associated
