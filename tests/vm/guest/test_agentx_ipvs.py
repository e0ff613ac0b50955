"""`lvsmon run` with [agentx] in the IPVS guest's director, under a real snmpd (`master
agentx`, v2c on 127.0.0.1 in the director's namespace) with a real snmptrapd:

- snmpwalk, snmpbulkwalk and snmptable of KEEPALIVED-MIB's virtualServerTable and
  realServerTable, by numeric OID, agree with `ipvsadm -Ln --stats --exact` on the same
  quiet table: addresses, ports, protocol or firewall mark, scheduler, weights, forwarding
  method and every counter, 64-bit (Counter64) and 32-bit; and every object equals what
  lvsmon's mapping makes of the daemon's own state (its status socket), read before and after;
- a real server set to weight 0 with ipvsadm brings a realServerStateChange (down) to
  snmptrapd, and its weight back another one (up).
"""

from __future__ import annotations

import ipaddress
import signal
import time

from lvsmon_snmp.agentx.oids import format_oid
from lvsmon_snmp.mib import keepalived_mib as ka
from tests.lab.agentx_daemon import AgentxDaemon, assert_between, traps_of, under, walk
from tests.lab.snmp_lab import SnmpLab, snmptable, write_table_mib

VS = format_oid(ka.VIRTUAL_SERVER_ENTRY)
RS = format_oid(ka.REAL_SERVER_ENTRY)
VS_TABLE = format_oid(ka.VIRTUAL_SERVER_ENTRY[:-1])
RS_TABLE = format_oid(ka.REAL_SERVER_ENTRY[:-1])
PROTOCOLS = {"tcp": 1, "udp": 2, "sctp": 3}
# ipvsadm's counters (Conns, InPkts, OutPkts, InBytes, OutBytes) -> columns, 64 and 32 bits.
VS_COUNTERS = {"connections": (38, 27), "packets_in": (39, 28), "packets_out": (40, 29),
               "bytes_in": (30, None), "bytes_out": (31, None)}  # fmt: skip
RS_COUNTERS = {"connections": (27, 14), "packets_in": (28, 18), "packets_out": (29, 19),
               "bytes_in": (20, None), "bytes_out": (21, None)}  # fmt: skip
FORWARD_ROWS = {"masq": 1, "route": 2, "tunnel": 3}
TRAP_SINK = "trap2sink 127.0.0.1:16162 public"


def column_of(oid: str, entry: str) -> tuple[int, tuple[int, ...]]:
    """(column, index) of a cell of `entry`."""
    parts = tuple(int(part) for part in oid[len(entry) + 1:].split("."))
    return parts[0], parts[1:]


def table(found: dict, entry: str) -> dict[tuple[int, ...], dict[int, object]]:
    """{index: {column: value}} of one table's cells."""
    rows: dict[tuple[int, ...], dict[int, object]] = {}
    for oid, (_, value) in under(found, entry).items():
        number, index = column_of(oid, entry)
        rows.setdefault(index, {})[number] = value
    return rows


def service_row(services: dict, spec) -> tuple[int, ...]:
    """The virtualServerTable row of a topology service, found by its key columns."""
    def matches(cells: dict) -> bool:
        if spec.fwmark is not None:
            return cells.get(2) == ka.FWMARK and cells.get(4) == spec.fwmark
        return (cells.get(2) == ka.IP and cells.get(6) == _octets(spec.address)
                and cells.get(7) == spec.port and cells.get(8) == PROTOCOLS[spec.protocol])

    found = [index for index, cells in services.items() if matches(cells)]
    assert len(found) == 1, (spec.name, found)
    return found[0]


def real_server_row(servers: dict, service: tuple[int, ...], rs) -> tuple[int, ...]:
    found = [index for index, cells in servers.items() if index[:1] == service
             and cells.get(4) == _octets(rs.address) and cells.get(5) == rs.port]
    assert len(found) == 1, (service, rs, found)
    return found[0]


def _octets(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def test_ipvs_tables_agree_with_ipvsadm_and_a_weight_0_trap(ipvs_topology):
    topo = ipvs_topology
    lab, director = topo.lab, topo.director
    snmp = SnmpLab(lab, director, extra_conf=(TRAP_SINK,))
    trapd = snmp.start_trap_receiver()
    snmp.start()
    daemon = AgentxDaemon(lab, director, snmp.agentx, observer=("rsnet",),
                          ipvs="interval = 1")
    daemon.start(timeout=120)  # the guest runs without KVM: Python starts slowly
    daemon.wait_connected(60)
    lab.wait_for(lambda: daemon.state().ipvs.available, 60, what="IPVS read by the daemon")

    # A quiet table: ipvsadm's view, then a daemon read taken after it.
    topo.settle()
    witness = {name: topo.stats(name) for name in topo.services}
    taken = time.time()
    lab.wait_for(lambda: (daemon.state().ipvs.last_success or 0) > taken, 30,
                 what="a daemon IPVS read after ipvsadm's")
    interfaces = daemon.interfaces()
    readings = {}
    for program, subtree in (("snmpwalk", VS_TABLE), ("snmpbulkwalk", VS_TABLE),
                             ("snmpwalk", RS_TABLE), ("snmpbulkwalk", RS_TABLE)):
        before = daemon.expected(daemon.state(), subtree, interfaces)
        found = under(walk(director, program, subtree, timeout=10), subtree)
        assert_between(before, found, daemon.expected(daemon.state(), subtree, interfaces),
                       f"{program} {subtree}")
        readings[(program, subtree)] = found
    # GetNext and GetBulk read the same objects; counters are quiet, so equal too.
    for subtree in (VS_TABLE, RS_TABLE):
        walked, bulk = readings[("snmpwalk", subtree)], readings[("snmpbulkwalk", subtree)]
        assert walked.keys() == bulk.keys(), subtree

    services = table(readings[("snmpbulkwalk", VS_TABLE)], VS)
    servers = table(readings[("snmpbulkwalk", RS_TABLE)], RS)
    assert len(services) == len(topo.services)
    assert len(servers) == sum(len(spec.real_servers) for spec in topo.services.values())
    compared = 0
    for name, spec in topo.services.items():
        row = service_row(services, spec)
        cells = services[row]
        assert cells[9] == ka.SCHEDULERS[spec.scheduler], (name, cells[9])
        assert cells[20] == len(spec.real_servers) and cells[21] == len(spec.real_servers)
        assert cells[13] == (1 if spec.persistence_seconds is not None else 2), name
        if spec.persistence_seconds is not None:
            assert cells[14] == spec.persistence_seconds
        stats = witness[name]["service"]
        for counter, (wide, narrow) in VS_COUNTERS.items():
            assert cells[wide] == getattr(stats, counter), (name, counter, cells[wide])
            if narrow is not None:
                assert cells[narrow] == getattr(stats, counter) % 2**32, (name, counter)
        for rs in spec.real_servers:
            rs_cells = servers[real_server_row(servers, row, rs)]
            assert rs_cells[7] == rs.weight and rs_cells[6] == ka.ALIVE, (name, rs)
            assert rs_cells[40] == FORWARD_ROWS[rs.forward], (name, rs)
            assert rs_cells.get(8, 0) == rs.upper_threshold, (name, rs)
            assert rs_cells.get(9, 0) == rs.lower_threshold, (name, rs)
            rs_stats = witness[name][rs.endpoint]
            for counter, (wide, narrow) in RS_COUNTERS.items():
                assert rs_cells[wide] == getattr(rs_stats, counter), (name, rs, counter)
                if narrow is not None:
                    assert rs_cells[narrow] == getattr(rs_stats, counter) % 2**32
            compared += 1
    assert compared >= 15
    nat = services[service_row(services, topo.services["nat"])]
    assert nat[38] >= 30 and nat[30] > 0  # the setup's 30 connections, counted

    # snmptable (a MIB of the columns, written here: Debian has no base MIBs) shows the same.
    mibs = lab.tmpdir / "mibs"
    mibs.mkdir()
    write_table_mib(mibs, "LVSMON-TEST-VS", ka.VIRTUAL_SERVER_ENTRY[:-1],
                    [(7, "Unsigned32"), (9, "Integer32"), (30, "Counter64"),
                     (38, "Counter64")], index_column=1)  # fmt: skip
    shown = {row["index"]: row for row in snmptable(director, mibs, "LVSMON-TEST-VS",
                                                    VS_TABLE)}
    assert len(shown) == len(services), shown
    for index, cells in services.items():
        row = shown[".".join(map(str, index))]
        for number in (9, 30, 38):
            assert row[f"c{number}"] == str(cells[number]), (index, number, row)

    # A real server set to weight 0: realServerStateChange (down), then (up) when restored.
    drain = topo.services["drain"]
    drain_row = service_row(services, drain)
    rs1 = drain.real_servers[0]
    status = ka.REAL_SERVER_ENTRY + (6, *real_server_row(servers, drain_row, rs1))
    up_before = len(traps_of(trapd.log(), ka.REAL_SERVER_STATE_CHANGE,
                             {status: f"INTEGER: {ka.ALIVE}"}))  # fmt: skip
    topo.ipvsadm("-e", *drain.ipvsadm_id(), "-r", rs1.endpoint, "-m", "-w", "0")
    down = lab.wait_for(lambda: traps_of(trapd.log(), ka.REAL_SERVER_STATE_CHANGE,
                                         {status: f"INTEGER: {ka.DEAD}"}), 60,
                        what="realServerStateChange (weight 0) at snmptrapd")  # fmt: skip
    assert len(down) == 1, down
    trap = down[0]
    assert trap[format_oid(ka.VIRTUAL_SERVER_ENTRY + (21, *drain_row))] == "Gauge32: 1", trap
    assert trap[format_oid(ka.VIRTUAL_SERVER_ENTRY + (7, *drain_row))] == "Gauge32: 80", trap
    weight = format_oid(ka.REAL_SERVER_ENTRY + (7, *real_server_row(servers, drain_row, rs1)))
    lab.wait_for(lambda: walk(director, "snmpget", weight)[weight] == ("INTEGER", 0), 30,
                 what="weight 0 served")
    topo.ipvsadm("-e", *drain.ipvsadm_id(), "-r", rs1.endpoint, "-m", "-w", str(rs1.weight))
    lab.wait_for(lambda: len(traps_of(trapd.log(), ka.REAL_SERVER_STATE_CHANGE,
                                      {status: f"INTEGER: {ka.ALIVE}"})) > up_before, 60,
                 what="realServerStateChange (weight back) at snmptrapd")  # fmt: skip

    # The state is reported every so often: wait for one that counts both.
    counters = lab.wait_for(lambda: (c := daemon.agentx().counters).get(
        "notifications_raised.realServerStateChange") == 2 and c, 30,
        what="both notifications counted in the daemon's state")
    assert counters["slowest_answer_microseconds"] < 1_000_000, counters
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(30) == 0, daemon.process.describe()
    assert "Traceback" not in daemon.process.log(), daemon.process.log()
