"""The guest topology carries real traffic through IPVS, and ipvsadm sees the counters move."""

from tests.vm.guest.topology import ipvsadm_rates, parse_ipvsadm_stats


def test_every_service_is_in_the_table(ipvs_topology):
    listing = ipvs_topology.ipvsadm("-Ln")
    for spec in ipvs_topology.services.values():
        head = f"FWM  {spec.fwmark}" if spec.fwmark is not None else spec.endpoint
        assert head in listing, f"{spec.name} ({head}) missing from:\n{listing}"
        for rs in spec.real_servers:
            assert rs.endpoint in listing
    for word in ("Masq", "Route", "Tunnel", "wrr", "wlc", "sh", "persistent 300", "SCTP", "UDP"):
        assert word in listing, f"{word!r} missing from:\n{listing}"


def test_nat_traffic_follows_the_weights(ipvs_topology):
    # wrr 3:2:1 gives exact shares over whole rounds.
    assert ipvs_topology.send_tcp("nat", 12) == {"rs1": 6, "rs2": 4, "rs3": 2}


def test_ipvsadm_counters_move_with_traffic(ipvs_topology):
    before = ipvs_topology.settled_stats("nat")
    ipvs_topology.send_tcp("nat", 6)
    # This kernel (6.1) folds its per-CPU counters into what it reports every 2 s.
    after = ipvs_topology.lab.wait_for(
        lambda: (s := ipvs_topology.stats("nat"))["service"].connections
        == before["service"].connections + 6 and s,
        30, what="6 more connections counted")  # a folding every 2 s, seen under TCG
    assert after["service"].packets_in > before["service"].packets_in
    assert after["service"].packets_out > before["service"].packets_out
    assert after["service"].bytes_out > before["service"].bytes_out
    per_server = sum(after[rs.endpoint].connections - before[rs.endpoint].connections
                     for rs in ipvs_topology.services["nat"].real_servers)
    assert per_server == 6


def test_settle_waits_until_every_connection_is_counted(ipvs_topology):
    before = ipvs_topology.settled_stats("nat")
    for _ in range(2):  # the read right after the traffic: settle() alone makes it exact
        ipvs_topology.send_tcp("nat", 4)
        after = ipvs_topology.settled_stats("nat")
        assert after["service"].connections == before["service"].connections + 4
        before = after


def test_ipv6_fwmark_udp_and_persistent_services_carry_traffic(ipvs_topology):
    assert sum(ipvs_topology.send_tcp("nat6", 3).values()) == 3
    assert set(ipvs_topology.send_tcp("fwm", 3)) <= {"rs2", "rs3"}
    assert len(ipvs_topology.send_tcp("persistent", 3)) == 1  # one client: one real server
    assert sum(ipvs_topology.send_udp("udp", 2).values()) == 2
    assert ipvs_topology.stats("fwm")["service"].connections >= 3


def test_held_connection_is_active_until_closed(ipvs_topology):
    held = ipvs_topology.hold_connection("drain")
    spec = ipvs_topology.services["drain"]
    endpoint = next(rs.endpoint for rs in spec.real_servers if rs.host == held.server)
    try:
        assert _active(ipvs_topology, spec, endpoint) == 1
    finally:
        held.close()
    ipvs_topology.lab.wait_for(lambda: _active(ipvs_topology, spec, endpoint) == 0, 10,
                               what="connection no longer active")


def _active(topo, spec, endpoint: str) -> int:
    for line in topo.ipvsadm("-Ln", *spec.ipvsadm_id()).splitlines():
        fields = line.split()
        if fields[:2] == ["->", endpoint]:
            return int(fields[4])
    raise AssertionError(f"{endpoint} not in {spec.text}")


def test_parse_ipvsadm_stats_reads_service_and_real_servers():
    out = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.100.0.1:80                      30      180      120    10280     9720
  -> 10.20.0.11:8080                    15       90       60     5140     4860
"""
    stats = parse_ipvsadm_stats(out)
    assert stats["service"].connections == 30
    assert stats["10.20.0.11:8080"].bytes_out == 4860


def test_ipvsadm_rates_reads_every_rate_and_no_address():
    out = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  10.100.0.1:80                       2       12        8      685      648
  -> 10.20.0.11:8080                     1        6        4      342      324
FWM  7                                   0        0        0        0        0
  -> 10.20.0.12:8080                     0        0        0        0        0
"""
    assert ipvsadm_rates(out) == [2, 12, 8, 685, 648, 1, 6, 4, 342, 324] + [0] * 10
