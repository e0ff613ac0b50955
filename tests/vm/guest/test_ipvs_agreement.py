"""On a live IPVS table, lvsmon's netlink reader, its procfs reader and ipvsadm agree.

ipvsadm (C, libipvs) is the independent witness; its text is parsed here and
only here. The table is tests/vm/guest/topology.py's: NAT, DR and tunnel
services, wrr/wlc/sh/rr/lc, a persistent service with a netmask, UDP, SCTP, a
firewall-mark service and an IPv6 service, with real traffic through several.

IPVS tables live in the director's network namespace, so the reads run in a
child process there (`python -m tests.vm.guest.test_ipvs_agreement ...`), back
to back: ipvsadm, the two readers, ipvsadm again. When the two ipvsadm
readings differ (the kernel folds its per-CPU counters every 2 s, a connection
timed out), the snapshot is taken again. Rate estimates keep decaying for a
while after traffic stops, so lvsmon's rates must equal ipvsadm's reading just
before or just after its own.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import subprocess
import sys
import time

import pytest

WITNESS_VIEWS = {  # "rate" last: right before the netlink read
    "list": ["-Ln"],
    "stats": ["-Ln", "--stats", "--exact"],
    "thresholds": ["-Ln", "--thresholds"],
    "persistent": ["-Ln", "--persistent-conn"],
    "tunnels": ["-Ln", "--tun-info"],
    "rate": ["-Ln", "--rate", "--exact"],
}
ATTEMPTS = 8


# --- the child, in the director's namespace ---------------------------------------------


def _witness(views=tuple(WITNESS_VIEWS)) -> dict[str, str]:
    return {
        name: subprocess.run(["ipvsadm", *WITNESS_VIEWS[name]], capture_output=True,
                             text=True, check=True).stdout
        for name in views
    }  # fmt: skip


SETTINGS_VIEWS = ("list", "thresholds", "tunnels")


# What moves while the table is quiet: only the rate estimates, which decay every 2 s
# for a while after traffic stops. The quiet check leaves them out; the netlink rates
# are compared with ipvsadm's rates read just before and just after them.
CHANGING_VIEWS = ("list", "stats", "persistent")


def snapshot(hz: int | None) -> dict:
    from lvsmon.ipvs import IpvsNetlink, read_table
    from lvsmon.ipvs.procfs import read_procfs

    with IpvsNetlink() as fast, IpvsNetlink(fast_path=False) as walked:
        before = _witness()
        netlink = read_table("netlink", netlink=fast)
        rate_after = _witness(("rate",))["rate"]
        procfs = read_procfs("/proc", hz=hz)
        after = _witness(CHANGING_VIEWS)
        # The generic walk of every message, around one more fast read: a rate estimator
        # tick may fall between two reads, but not between both pairs.
        generic = [walked.read_table(), fast.read_table(), walked.read_table()]
    return {
        "before": before,
        "after": after,
        "rate_after": rate_after,
        "netlink": dataclasses.asdict(netlink),
        "procfs": dataclasses.asdict(procfs),
        "fast_path_messages": fast.fast_path_messages,
        "walked_fast_path_messages": walked.fast_path_messages,
        "fast_vs_walked": [_without_time(table) for table in generic],
    }


def _without_time(table) -> dict:
    found = dataclasses.asdict(table)
    del found["read_at_seconds"]
    return found


def set_weights(cases: dict) -> dict:
    """Weight 7 and back for each of cases["change"] ([service, real server]), then try
    cases["unknown"], with ipvsadm's view around each step. One process: one (slow,
    under TCG) Python start."""
    from lvsmon.errors import NotFound
    from lvsmon.ipvs import IpvsNetlink, parse_real_server, parse_service

    steps = []
    with IpvsNetlink() as nl:
        for service, real_server in cases["change"]:
            key, (address, port) = parse_service(service), parse_real_server(real_server)
            before = _witness(SETTINGS_VIEWS)
            old = nl.set_weight(key, address, port, 7)
            changed = _witness(SETTINGS_VIEWS)
            nl.set_weight(key, address, port, old.weight)
            steps.append({"service": service, "real_server": real_server,
                          "old_weight": old.weight, "before": before, "changed": changed,
                          "restored": _witness(SETTINGS_VIEWS)})
        unknown_before = _witness(("list",))["list"]
        refused = []
        for service, real_server in cases["unknown"]:
            try:
                nl.set_weight(parse_service(service), *parse_real_server(real_server), 0)
                refused.append("accepted")
            except NotFound as exc:
                refused.append(str(exc))
        unknown_after = _witness(("list",))["list"]
    return {"steps": steps, "refused": refused,
            "unknown_before": unknown_before, "unknown_after": unknown_after}


def main(argv: list[str]) -> None:
    if argv[0] == "snapshot":
        result = snapshot(int(argv[1]) if argv[1] != "-" else None)
    elif argv[0] == "set-weights":
        result = set_weights(json.loads(argv[1]))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")
    print(json.dumps(result))


# --- ipvsadm's text (the witness) -------------------------------------------------------


@dataclasses.dataclass
class WitnessService:
    key: tuple  # ("tcp", "10.100.0.1", 80) or ("fwm", family, mark)
    scheduler: str | None = None
    sched_flags: tuple[str, ...] = ()
    persistent: int | None = None
    mask: str | None = None
    pe: str | None = None
    ops: bool = False
    stats: tuple[int, ...] | None = None
    rates: tuple[int, ...] | None = None
    rates_after: tuple[int, ...] | None = None  # "rate" view read right after netlink's
    dests: dict = dataclasses.field(default_factory=dict)  # endpoint -> dict


def _service_key(fields: list[str]) -> tuple[tuple, list[str]]:
    """Key and the remaining fields of a service line of any ipvsadm -Ln view."""
    if fields[0] == "FWM":
        if fields[2:3] == ["IPv6"]:
            return ("fwm", "inet6", int(fields[1])), fields[3:]
        return ("fwm", "inet", int(fields[1])), fields[2:]
    host, _, port = fields[1].rpartition(":")
    return (fields[0].lower(), host.strip("[]"), int(port)), fields[2:]


def parse_witness(views: dict[str, str]) -> tuple[str, dict[tuple, WitnessService]]:
    """Every view of ipvsadm -Ln -> (header line, services by key)."""
    services: dict[tuple, WitnessService] = {}
    header = views["list"].splitlines()[0]
    for view, text in views.items():
        current = None
        for line in text.splitlines()[3:]:  # header, two title lines
            fields = line.split()
            if fields[0] != "->":
                key, rest = _service_key(fields)
                current = services.setdefault(key, WitnessService(key))
                _service_fields(view, current, rest)
                continue
            endpoint = fields[1]
            dest = current.dests.setdefault(endpoint, {})
            values = fields[2:]
            if view == "list":
                dest.update(forward=values[0].lower(), weight=int(values[1]),
                            active=int(values[2]), inactive=int(values[3]))
            elif view == "stats":
                dest["stats"] = tuple(int(v) for v in values)
            elif view == "rate":
                dest["rates"] = tuple(int(v) for v in values)
            elif view == "thresholds":
                dest.update(upper=int(values[0]), lower=int(values[1]))
            elif view == "persistent":
                dest["persistent"] = int(values[1])
            elif view == "tunnels":
                dest["tunnel_info"] = values[1]
    return header, services


def _service_fields(view: str, svc: WitnessService, rest: list[str]) -> None:
    if view == "stats":
        svc.stats = tuple(int(v) for v in rest)
    elif view == "rate":
        svc.rates = tuple(int(v) for v in rest)
    elif view == "list":
        svc.scheduler = rest[0]
        words = iter(rest[1:])
        for word in words:
            if word.startswith("("):
                svc.sched_flags = tuple(word.strip("()").split(","))
            elif word == "persistent":
                svc.persistent = int(next(words))
            elif word == "mask":
                svc.mask = next(words)
            elif word == "pe":
                svc.pe = next(words)
            elif word == "ops":
                svc.ops = True
            else:
                raise AssertionError(f"unexpected word {word!r} in ipvsadm -Ln: {rest}")


# --- the host side of the test ----------------------------------------------------------


def _kernel_hz() -> int | None:
    """CONFIG_HZ of this guest kernel, from the image's unpacked kernel tree."""
    from tests.vm.image import DEFAULT_CACHE, cache_dir

    release = platform.release()
    for cache in (cache_dir(), DEFAULT_CACHE):
        config = cache / f"kernel-{release}" / "root" / "boot" / f"config-{release}"
        if config.exists():
            match = re.search(r"^CONFIG_HZ=(\d+)$", config.read_text(), re.MULTILINE)
            return int(match.group(1)) if match else None
    return None


def _in_director(topo, *args: str) -> dict:
    argv = [sys.executable, "-m", "tests.vm.guest.test_ipvs_agreement", *args]
    out = topo.director.run(argv, timeout=120).stdout
    return json.loads(out.splitlines()[-1])


def _quiet_snapshot(topo, hz: int | None) -> dict:
    for _ in range(ATTEMPTS):
        snap = _in_director(topo, "snapshot", str(hz) if hz else "-")
        if all(snap["before"][view] == snap["after"][view] for view in CHANGING_VIEWS):
            return snap
        time.sleep(1)
    changed = [view for view in CHANGING_VIEWS if snap["before"][view] != snap["after"][view]]
    pytest.fail(f"ipvsadm kept changing ({', '.join(changed)}) across {ATTEMPTS} snapshots; "
                f"last:\n{snap['before']['stats']}\n---\n{snap['after']['stats']}")


def _by_key(services: list[dict]) -> dict[tuple, dict]:
    table = {}
    for svc in services:
        key = svc["key"]
        if key["protocol"] == "fwm":
            table[("fwm", key["family"], key["fwmark"])] = svc
        else:
            table[(key["protocol"], key["address"], key["port"])] = svc
    return table


def _counters(counters: dict) -> tuple:
    return tuple(counters[name] for name in
                 ("connections", "packets_in", "packets_out", "bytes_in", "bytes_out"))


def _prefix_of(mask: str | None, family: str) -> int:
    """ipvsadm prints the mask only when it is not the full one."""
    if mask is None:
        return 128 if family == "inet6" else 32
    if family == "inet6":
        return int(mask)
    return sum(bin(int(octet)).count("1") for octet in mask.split("."))


@pytest.fixture(scope="module")
def agreement(ipvs_topology):
    hz = _kernel_hz()
    snap = _quiet_snapshot(ipvs_topology, hz)
    header, witness = parse_witness(snap["before"])
    _, rates_after = parse_witness({"list": snap["before"]["list"], "rate": snap["rate_after"]})
    for key, seen in witness.items():
        seen.rates_after = rates_after[key].rates
        for endpoint, dest in seen.dests.items():
            dest["rates_after"] = rates_after[key].dests[endpoint]["rates"]
    return hz, snap, header, witness


def test_same_services_and_real_servers(agreement, ipvs_topology):
    _hz, snap, _header, witness = agreement
    netlink = _by_key(snap["netlink"]["services"])
    procfs = snap["procfs"]["services"]
    assert set(netlink) == set(witness)
    assert len(procfs) == len(witness)
    # Every service of the topology is there (the witness is not empty by mistake).
    for spec in ipvs_topology.services.values():
        assert _witness_key(spec) in witness, spec.text
    for key, seen in witness.items():
        svc = netlink[key]
        assert {_endpoint(rs) for rs in svc["real_servers"]} == set(seen.dests), key
    for svc in procfs:
        key = svc["key"]
        if key["protocol"] == "fwm":
            assert key["family"] is None  # /proc/net/ip_vs does not say
            matches = [k for k in witness if k[0] == "fwm" and k[2] == key["fwmark"]]
            assert len(matches) == 1
            seen = witness[matches[0]]
        else:
            seen = witness[(key["protocol"], key["address"], key["port"])]
        assert {_endpoint(rs) for rs in svc["real_servers"]} == set(seen.dests)


def _endpoint(rs: dict) -> str:
    address = rs["address"]
    return f"[{address}]:{rs['port']}" if ":" in address else f"{address}:{rs['port']}"


def _procfs_by_key(snap, witness) -> dict[tuple, dict]:
    found = {}
    for svc in snap["procfs"]["services"]:
        key = svc["key"]
        if key["protocol"] == "fwm":
            (wkey,) = [k for k in witness if k[0] == "fwm" and k[2] == key["fwmark"]]
            found[wkey] = svc
        else:
            found[(key["protocol"], key["address"], key["port"])] = svc
    return found


def test_weights_forwarding_and_connection_counts(agreement, ipvs_topology):
    _hz, snap, _header, witness = agreement
    netlink = _by_key(snap["netlink"]["services"])
    procfs = _procfs_by_key(snap, witness)
    checked = 0
    for key, seen in witness.items():
        for source in (netlink[key], procfs[key]):
            for rs in source["real_servers"]:
                expected = seen.dests[_endpoint(rs)]
                got = {"forward": rs["forward"], "weight": rs["weight"],
                       "active": rs["active_connections"], "inactive": rs["inactive_connections"]}
                want = {name: expected[name] for name in got}
                assert got == want, (key, _endpoint(rs))
                checked += 1
    assert checked > 20
    # Real traffic went through: the witness saw connections on the NAT service.
    nat = witness[_witness_key(ipvs_topology.services["nat"])]
    assert sum(d["inactive"] + d["active"] for d in nat.dests.values()) > 0


def test_thresholds_and_persistent_connections(agreement, ipvs_topology):
    _hz, snap, _header, witness = agreement
    netlink = _by_key(snap["netlink"]["services"])
    for key, seen in witness.items():
        for rs in netlink[key]["real_servers"]:
            expected = seen.dests[_endpoint(rs)]
            assert rs["upper_threshold"] == expected["upper"]
            assert rs["lower_threshold"] == expected["lower"]
            assert rs["persistent_connections"] == expected["persistent"]
    # procfs cannot know these: None, never 0.
    for svc in snap["procfs"]["services"]:
        for rs in svc["real_servers"]:
            assert rs["upper_threshold"] is None
            assert rs["persistent_connections"] is None
    # The topology's thresholds are really there (not 0 everywhere by mistake).
    nat = ipvs_topology.services["nat"]
    limited = [rs for rs in nat.real_servers if rs.upper_threshold]
    assert limited
    for rs in limited:
        seen = witness[_witness_key(nat)].dests[rs.endpoint]
        assert (seen["upper"], seen["lower"]) == (rs.upper_threshold, rs.lower_threshold)


def test_every_counter_and_rate(agreement):
    _hz, snap, _header, witness = agreement
    netlink = _by_key(snap["netlink"]["services"])
    moved = 0
    for key, seen in witness.items():
        svc = netlink[key]
        assert _counters(svc["stats"]) == seen.stats, key
        # An estimator tick may fall between ipvsadm's reading and lvsmon's: then it
        # agrees with the reading after.
        assert _counters(svc["rates"]) in (seen.rates, seen.rates_after), key
        moved += seen.stats[0]
        for rs in svc["real_servers"]:
            expected = seen.dests[_endpoint(rs)]
            assert _counters(rs["stats"]) == expected["stats"], (key, _endpoint(rs))
            rates = _counters(rs["rates"])
            assert rates in (expected["rates"], expected["rates_after"]), (key, _endpoint(rs))
    assert moved >= 30  # the topology's traffic: 30 connections to nat alone
    # procfs carries no per-service counters: unknown, not zero.
    for svc in snap["procfs"]["services"]:
        assert set(svc["stats"].values()) == {None}


def test_totals(agreement):
    _hz, snap, _header, witness = agreement
    totals = _counters(snap["procfs"]["stats"])
    assert _counters(snap["netlink"]["stats"]) == totals  # netlink reads take procfs's totals
    assert None not in totals
    summed = [sum(seen.stats[i] for seen in witness.values()) for i in range(5)]
    # The totals also count services deleted earlier in this namespace, so at least the sum.
    assert all(total >= part for total, part in zip(totals, summed, strict=True))
    assert totals[0] >= 30


def test_schedulers_flags_and_persistence(agreement, ipvs_topology):
    hz, snap, header, witness = agreement
    netlink = _by_key(snap["netlink"]["services"])
    procfs = _procfs_by_key(snap, witness)
    for key, seen in witness.items():
        family = "inet6" if key[0] != "fwm" and ":" in key[1] else "inet"
        if key[0] == "fwm":
            family = key[1]
        nl, pf = netlink[key], procfs[key]
        assert nl["scheduler"] == pf["scheduler"] == seen.scheduler
        flags = set(nl["flags"])
        assert "hashed" in flags
        assert ("persistent" in flags) == (seen.persistent is not None) == (
            "persistent" in pf["flags"])
        assert ("onepacket" in flags) == seen.ops
        assert flags - {"hashed", "persistent", "onepacket"} == set(seen.sched_flags)
        assert nl["persistence_engine"] == seen.pe
        assert nl["persistence_timeout_seconds"] == seen.persistent
        if seen.persistent is None:
            assert pf["persistence_timeout_seconds"] is None
            continue
        assert nl["persistence_prefix_length"] == _prefix_of(seen.mask, family)
        if key[0] != "fwm":
            assert pf["persistence_prefix_length"] == nl["persistence_prefix_length"]
        if hz:
            assert pf["persistence_timeout_seconds"] == seen.persistent
        else:
            assert pf["persistence_timeout_seconds"] is None
    spec = ipvs_topology.services["persistent"]
    persistent = witness[_witness_key(spec)]
    assert (persistent.persistent, persistent.mask) == (spec.persistence_seconds, spec.netmask)
    assert netlink[_witness_key(spec)]["persistence_prefix_length"] == _prefix_of(
        spec.netmask, "inet")


def test_the_fast_path_reads_what_the_kernel_sends_as_the_generic_walk_does(agreement):
    _hz, snap, _header, witness = agreement
    real_servers = sum(len(seen.dests) for seen in witness.values())
    # Every service and real server of the table came through the fast path, in each of
    # the two fast reads: this kernel's layouts are ones the decoder knows.
    assert snap["fast_path_messages"] == 2 * (len(witness) + real_servers)
    assert snap["walked_fast_path_messages"] == 0
    walked_before, fast, walked_after = snap["fast_vs_walked"]
    assert fast in (walked_before, walked_after)
    assert fast["warnings"] == []
    assert sum(len(svc["real_servers"]) for svc in fast["services"]) == real_servers


def test_version_table_size_and_no_warnings(agreement):
    hz, snap, header, _witness = agreement
    match = re.fullmatch(r"IP Virtual Server version (\S+) \(size=(\d+)\)", header)
    assert match, header
    for source in (snap["netlink"], snap["procfs"]):
        assert source["version"] == match.group(1)
        assert source["connection_table_size"] == int(match.group(2))
    assert snap["netlink"]["warnings"] == []
    if hz:
        assert snap["procfs"]["warnings"] == []
    else:  # the persistence timeouts, which procfs gives in jiffies
        assert all("jiffies" in w for w in snap["procfs"]["warnings"])


def _witness_key(spec) -> tuple:
    if spec.fwmark is not None:
        return ("fwm", "inet6" if spec.family == 6 else "inet", spec.fwmark)
    return (spec.protocol, spec.address, spec.port)


@pytest.fixture(scope="module")
def weights_changed(ipvs_topology):
    services = ipvs_topology.services
    nat, tunnel, fwm = services["nat"], services["tunnel"], services["fwm"]
    limited = next(rs for rs in nat.real_servers if rs.upper_threshold)  # keeps thresholds?
    tunneled = tunnel.real_servers[-1]  # keeps its IPIP tunnel?
    cases = {
        "change": [[nat.text, limited.endpoint], [tunnel.text, tunneled.endpoint]],
        "unknown": [
            [nat.text, "10.20.0.99:8080"],  # no such real server
            ["tcp:10.100.0.99:80", nat.real_servers[0].endpoint],  # no such service
            [f"fwm6:{fwm.fwmark}", fwm.real_servers[0].endpoint],  # the mark is IPv4 only
        ],
    }
    result = _in_director(ipvs_topology, "set-weights", json.dumps(cases))
    result["cases"] = cases
    result["keys"] = {nat.text: _witness_key(nat), tunnel.text: _witness_key(tunnel)}
    return result


def test_set_weight_keeps_the_other_settings(weights_changed):
    assert len(weights_changed["steps"]) == len(weights_changed["cases"]["change"])
    for step in weights_changed["steps"]:
        key, endpoint = tuple(weights_changed["keys"][step["service"]]), step["real_server"]
        before = parse_witness(step["before"])[1]
        changed = parse_witness(step["changed"])[1]
        old, new = before[key].dests[endpoint], changed[key].dests[endpoint]
        assert step["old_weight"] == old["weight"] != 7
        assert new["weight"] == 7
        for kept in ("forward", "upper", "lower", "tunnel_info", "active", "inactive"):
            assert new[kept] == old[kept], (endpoint, kept)
        # Nothing else in the table changed.
        for other_key, svc in changed.items():
            for other, dest in svc.dests.items():
                if (other_key, other) != (key, endpoint):
                    assert dest["weight"] == before[other_key].dests[other]["weight"]
        assert step["restored"]["list"] == step["before"]["list"]
        assert step["restored"]["thresholds"] == step["before"]["thresholds"]
        assert step["restored"]["tunnels"] == step["before"]["tunnels"]
    limited, tunneled = (parse_witness(step["changed"])[1] for step in weights_changed["steps"])
    nat_step, tunnel_step = weights_changed["steps"]
    nat_key = tuple(weights_changed["keys"][nat_step["service"]])
    assert limited[nat_key].dests[nat_step["real_server"]]["upper"] > 0
    tunnel_key = tuple(weights_changed["keys"][tunnel_step["service"]])
    assert tunneled[tunnel_key].dests[tunnel_step["real_server"]]["tunnel_info"] == "ipip"


def test_set_weight_of_unknown_things_changes_nothing(weights_changed):
    (nat, missing_rs), (missing_svc, _), (fwm6, _) = weights_changed["cases"]["unknown"]
    hint = ": list them with `lvsmon ipvs`"
    assert weights_changed["refused"] == [
        f"no real server {missing_rs} in {nat}{hint}",
        f"no virtual service {missing_svc}{hint}",
        f"no virtual service {fwm6}{hint}",
    ]
    assert weights_changed["unknown_after"] == weights_changed["unknown_before"]


if __name__ == "__main__":
    main(sys.argv[1:])
