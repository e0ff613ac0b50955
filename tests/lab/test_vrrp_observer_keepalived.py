"""The VRRP observer against real keepalived, from a third namespace and from the nodes.

The main scenario: nodes a (priority 150) and b (priority 100) each run one keepalived
with three instances: VRID 51 VRRPv2 with auth_type PASS (1 s), VRID 52 VRRPv3 over
IPv4 (0.5 s, two VIPs), VRID 53 VRRPv3 over IPv6 (0.5 s). The observer namespace runs
the observer library (tests.lab.vrrp_probe, snapshots in a file) and the real CLI.
Then: mismatched interval and password, graceful shutdown with `lvsmon vrrp watch`,
CAP_NET_RAW alone, forged adverts, and lvsmon on the keepalived nodes (own adverts,
unicast).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.lab.firewall import block_vrrp, link_local, unblock_vrrp
from tests.lab.keepalived import keepalived_conf, kill_hard, spawn_keepalived, vrrp_instance
from tests.lab.vrrp_probe import Probe, history, masters_are, router

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
A4, B4, OBS4 = "10.30.0.11", "10.30.0.12", "10.30.0.30"
A6, B6, OBS6 = "fd00:30::11", "fd00:30::12", "fd00:30::30"
VIPS = {51: ["10.30.0.100"], 52: ["10.30.0.101", "10.30.0.102"], 53: ["fd00:30::100"]}
FAMILY = {51: "inet", 52: "inet", 53: "inet6"}
INTERVAL = {51: 1.0, 52: 0.5, 53: 0.5}


def pair_conf(node: str, priority: int) -> str:
    return keepalived_conf(node, [
        vrrp_instance("V2PASS", vrid=51, priority=priority, version=2, advert_int=1,
                      auth_pass="secret12", vips=["10.30.0.100/24"]),
        vrrp_instance("V3V4", vrid=52, priority=priority, version=3, advert_int=0.5,
                      vips=["10.30.0.101/24", "10.30.0.102/24"]),
        vrrp_instance("V3V6", vrid=53, priority=priority, version=3, advert_int=0.5,
                      vips=["fd00:30::100/64"]),
    ])  # fmt: skip


def all_have(name: str, active: bool = True):
    return lambda segments: all(
        vrid in segments and (name in segments[vrid]["anomalies"]) == active for vrid in VIPS
    )


def test_observer_follows_keepalived_pair(lab):
    segment = lab.segment("vrrp")
    a, b, obs = lab.namespace("a"), lab.namespace("b"), lab.namespace("obs")
    segment.attach(a, [f"{A4}/24", f"{A6}/64"])
    segment.attach(b, [f"{B4}/24", f"{B6}/64"])
    segment.attach(obs, [f"{OBS4}/24", f"{OBS6}/64"])
    a6, b6 = link_local(a), link_local(b)
    addr_a = {51: A4, 52: A4, 53: a6}
    addr_b = {51: B4, 52: B4, 53: b6}
    probe = Probe(lab, obs)
    timings = {}

    # b alone: it becomes master of all three VRIDs.
    started = time.monotonic()
    ka_b = spawn_keepalived(lab, b, pair_conf("node-b", 100))
    probe.wait(masters_are(addr_b), 15, "b master everywhere")
    timings["b master"] = time.monotonic() - started

    # a starts later with a higher priority: a normal preemption, never split brain.
    started = time.monotonic()
    ka_a = spawn_keepalived(lab, a, pair_conf("node-a", 150))
    segments = probe.wait(masters_are(addr_a), 15, "a preempts b")
    timings["a preempts"] = time.monotonic() - started
    time.sleep(4)  # longer than Master_Down_Interval (v2: 3 + 106/256 s): a split would show
    segments = probe.segments()
    for vrid, vips in VIPS.items():
        view = segments[vrid]
        assert view["master"] == addr_a[vrid]
        assert view["family"] == FAMILY[vrid] and view["interface"] == "eth0"
        assert history(view, "split_brain") == [], view
        assert view["master_changes"] == 1, view
        ra, rb = router(view, addr_a[vrid]), router(view, addr_b[vrid])
        assert (ra["priority"], rb["priority"]) == (150, 100)
        assert ra["advert_interval"] == rb["advert_interval"] == INTERVAL[vrid]
        assert sorted(ra["vips"]) == sorted(rb["vips"]) == vips
        assert ra["version"] == (2 if vrid == 51 else 3)
        assert ra["auth_type"] == ("simple" if vrid == 51 else None)
        assert view["anomalies"] == [], view

    # The real CLI in the observer namespace names the same master, priority, interval, VIPs.
    done = obs.run(
        [sys.executable, "-m", "lvsmon", "vrrp", "status", "--json", "--duration", "2.5",
         "-i", "eth0"],
        env={"PYTHONPATH": REPO}, timeout=20,
    )  # fmt: skip
    cli = {view["vrid"]: view for view in json.loads(done.stdout)}
    assert sorted(cli) == [51, 52, 53]
    for vrid, vips in VIPS.items():
        view = cli[vrid]
        assert (view["interface"], view["family"], view["master"]) == (
            "eth0", FAMILY[vrid], addr_a[vrid])
        master = router(view, addr_a[vrid])
        assert master["priority"] == 150 and master["advert_interval"] == INTERVAL[vrid]
        assert sorted(master["vips"]) == vips
        assert master["auth_type"] == ("simple" if vrid == 51 else None)
        assert master["last_seen"] <= time.time()
        assert view["anomalies"] == []

    # Both nodes drop each other's adverts; the observer hears both: split brain, then its end.
    started = time.monotonic()
    block_vrrp(a, B4, b6)
    block_vrrp(b, A4, a6)
    segments = probe.wait(all_have("split_brain"), 15, "split brain reported")
    timings["split brain reported"] = time.monotonic() - started
    for vrid in VIPS:
        (item,) = history(segments[vrid], "split_brain")
        assert set(item["routers"]) == {addr_a[vrid], addr_b[vrid]}
        assert item["end"] is None
    lifted = time.time()
    unblock_vrrp(a)
    unblock_vrrp(b)
    unblocked = time.time()  # two nft runs later: b hears a again by now
    segments = probe.wait(all_have("split_brain", active=False), 10, "split brain ended")
    timings["split brain ended"] = time.time() - lifted
    for vrid in VIPS:
        (item,) = history(segments[vrid], "split_brain")
        # It ended at b's last advert, right after the block was lifted.
        assert lifted - 1 < item["end"] < unblocked + INTERVAL[vrid] + 1, item
        assert segments[vrid]["master"] == addr_a[vrid]

    # The master dies without a word: b takes over, and no_master is never reported.
    killed = time.monotonic()
    kill_hard(ka_a)
    segments = probe.wait(masters_are(addr_b), 10, "b takes over")
    timings["b takes over"] = time.monotonic() - killed
    time.sleep(1)
    for vrid in VIPS:
        assert history(probe.segments()[vrid], "no_master") == []

    # Both gone: no master.
    killed = time.monotonic()
    kill_hard(ka_b)
    segments = probe.wait(all_have("no_master"), 10, "no_master reported")
    timings["no_master reported"] = time.monotonic() - killed
    for vrid in VIPS:
        assert segments[vrid]["master"] is None
        # no_master starts 3 x interval + skew(priority 1) + half an interval after the last advert.
        (item,) = history(segments[vrid], "no_master")
        last = router(segments[vrid], addr_b[vrid])["last_seen"]
        assert item["start"] == pytest.approx(last + 4.5 * INTERVAL[vrid], abs=0.2)
    print("timings (s):", {key: round(value, 2) for key, value in timings.items()})


def test_observer_reports_interval_and_password_mismatch(lab):
    segment = lab.segment("vrrp")
    a, b, obs = lab.namespace("a"), lab.namespace("b"), lab.namespace("obs")
    segment.attach(a, [f"{A4}/24"])
    segment.attach(b, [f"{B4}/24"])
    segment.attach(obs, [f"{OBS4}/24"])
    probe = Probe(lab, obs)

    def conf(node: str, priority: int, interval: int, password: str) -> str:
        return keepalived_conf(node, [
            vrrp_instance("INTERVAL", vrid=61, priority=priority, version=2,
                          advert_int=interval, auth_pass="same1234", vips=["10.30.0.161/24"]),
            vrrp_instance("PASSWORD", vrid=62, priority=priority, version=2, advert_int=1,
                          auth_pass=password, vips=["10.30.0.162/24"]),
        ])  # fmt: skip

    spawn_keepalived(lab, b, conf("node-b", 100, 2, "secretB"), name="keepalived-b")
    probe.wait(masters_are({61: B4, 62: B4}), 15, "b master")
    spawn_keepalived(lab, a, conf("node-a", 150, 1, "secretA"), name="keepalived-a")

    def reported(segments):
        return (
            61 in segments
            and "interval_mismatch" in segments[61]["anomalies"]
            and 62 in segments
            and "auth_mismatch" in segments[62]["anomalies"]
        )

    segments = probe.wait(reported, 15, "interval and password mismatch")
    interval = segments[61]
    assert {r["address"]: r["advert_interval"] for r in interval["routers"]} == {A4: 1, B4: 2}
    assert "auth_mismatch" not in interval["anomalies"]
    password = segments[62]
    assert "interval_mismatch" not in password["anomalies"]
    (item,) = history(password, "auth_mismatch")
    assert set(item["routers"]) == {A4, B4}
    assert "secret" not in item["detail"]  # passwords are told apart, never shown


def test_graceful_shutdown_and_watch_table(lab):
    """keepalived stopped with SIGTERM sends priority 0: graceful_release, then the backup.

    Meanwhile `lvsmon vrrp watch` runs in the observer namespace until Ctrl-C (SIGINT).
    """
    segment = lab.segment("vrrp")
    a, b, obs = lab.namespace("a"), lab.namespace("b"), lab.namespace("obs")
    segment.attach(a, [f"{A4}/24"])
    segment.attach(b, [f"{B4}/24"])
    segment.attach(obs, [f"{OBS4}/24"])
    probe = Probe(lab, obs)

    def conf(node: str, priority: int) -> str:
        return keepalived_conf(node, [vrrp_instance(
            "V3", vrid=71, priority=priority, advert_int=0.5, vips=["10.30.0.171/24"])])

    ka_a = spawn_keepalived(lab, a, conf("node-a", 200))
    probe.wait(masters_are({71: A4}), 10, "a master")
    ka_b = spawn_keepalived(lab, b, conf("node-b", 100))
    watch = obs.spawn(
        [sys.executable, "-m", "lvsmon", "vrrp", "watch", "-i", "eth0", "--interval", "0.5"],
        name="watch", env={"PYTHONPATH": REPO},
    )  # fmt: skip
    # b is a silent backup: its own log says when it is one.
    lab.wait_for(lambda: "Entering BACKUP STATE" in ka_b.log(), 30, what="b backup")

    stopped = time.time()
    ka_a.stop()  # SIGTERM: keepalived sends priority 0
    segments = probe.wait(masters_are({71: B4}), 5, "b takes over")
    takeover = router(segments[71], B4)["first_seen"] - stopped
    view = probe.wait(lambda segments: any(item["end"] is not None for item in history(
        segments[71], "graceful_release")), 30, "graceful_release ended")[71]
    (release,) = history(view, "graceful_release")
    assert release["routers"] == [A4] and release["end"] is not None
    assert router(view, A4)["priority"] == 0
    # After priority 0 a backup waits only Skew_Time ((256 - 100) / 256 x 0.5 s = 0.3 s).
    assert takeover < 1.5, takeover
    assert history(view, "no_master") == [] and history(view, "split_brain") == []
    assert view["master_changes"] == 1

    def frames() -> list[str]:
        return [frame for frame in watch.log().split("\x1b[H\x1b[2J") if frame.strip()]

    lab.wait_for(lambda: len(frames()) >= 3 and f" 71 {B4}" in " ".join(frames()[-1].split()),
                 30, what="vrrp watch showing b as master")
    watch.send_signal(signal.SIGINT)
    assert watch.wait(timeout=30) == 0, watch.describe()  # a busy machine: generous
    drawn = frames()
    assert len(drawn) >= 3
    last = drawn[-1].splitlines()
    assert all(len(line) <= 80 for frame in drawn for line in frame.splitlines())
    row = next(line for line in last if line.startswith("eth0"))
    assert row.split()[:4] == ["eth0", "v4", "71", B4], last
    print("takeover after SIGTERM (s):", round(takeover, 2))


def test_status_needs_only_cap_net_raw(lab):
    """As user nobody with CAP_NET_RAW alone the CLI hears the master; without it, a clean error."""
    segment = lab.segment("vrrp")
    a, obs = lab.namespace("a"), lab.namespace("obs")
    segment.attach(a, [f"{A4}/24"])
    segment.attach(obs, [f"{OBS4}/24"])
    spawn_keepalived(lab, a, keepalived_conf("node-a", [vrrp_instance(
        "V3", vrid=81, priority=150, state="MASTER", advert_int=0.5, vips=["10.30.0.181/24"])]))
    lab.wait_for(lambda: a.has_address("10.30.0.181"), 10, what="keepalived master with its VIP")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    status = [sys.executable, "-m", "lvsmon", "vrrp", "status", "--json", "--duration", "1.5"]
    env = {"PYTHONPATH": REPO}

    raw_only = ["--inh-caps=-all,+net_raw", "--ambient-caps=-all,+net_raw",
                "--bounding-set=-all,+net_raw"]  # fmt: skip
    done = obs.run([*nobody, *raw_only, *status], env=env, timeout=20)
    (view,) = json.loads(done.stdout)
    assert (view["vrid"], view["master"]) == (81, A4)

    refused = obs.run([*nobody, "--inh-caps=-all", "--bounding-set=-all", *status], env=env,
                      timeout=20, check=False)  # fmt: skip
    assert refused.returncode == 4, refused
    assert "CAP_NET_RAW" in refused.stderr and "Traceback" not in refused.stderr


def test_forged_adverts_show_every_per_packet_anomaly(lab):
    """A rogue namespace sends adverts no keepalived would: the observer names each fault.

    VRID 90: two forged sources both at priority 255 with disjoint VIPs (duplicate owner,
    VRID collision, and since both keep advertising, split brain). VRID 91: TTL 64.
    VRID 92: a wrong checksum. VRID 93 over IPv6: wrong checksum and hop limit 1 (the
    kernel must not drop it: the observer's socket does not set IPV6_CHECKSUM).
    """
    segment = lab.segment("vrrp")
    rogue, obs = lab.namespace("rogue"), lab.namespace("obs")
    segment.attach(rogue, ["10.30.0.40/24", "fd00:30::40/64"])
    segment.attach(obs, [f"{OBS4}/24", f"{OBS6}/64"])
    probe = Probe(lab, obs)
    rogue6 = link_local(rogue)
    specs = [
        {"family": "inet", "source": "10.30.0.41", "vrid": 90, "priority": 255,
         "vips": ["10.30.0.190"]},
        {"family": "inet", "source": "10.30.0.42", "vrid": 90, "priority": 255,
         "vips": ["10.30.0.191"]},
        {"family": "inet", "source": "10.30.0.40", "vrid": 91, "priority": 100,
         "vips": ["10.30.0.192"], "ttl": 64},
        {"family": "inet", "source": "10.30.0.40", "vrid": 92, "priority": 100,
         "vips": ["10.30.0.193"], "corrupt": True},
        {"family": "inet6", "source": rogue6, "vrid": 93, "priority": 100,
         "vips": ["fd00:30::193"], "corrupt": True, "ttl": 1},
    ]  # fmt: skip
    sender = rogue.spawn(
        [sys.executable, "-m", "tests.lab.vrrp_sender", "eth0", "20", json.dumps(specs)],
        name="vrrp-sender", env={"PYTHONPATH": REPO},
    )  # fmt: skip
    wanted = {
        90: {"duplicate_owner", "vrid_collision", "split_brain"},
        91: {"bad_ttl"},
        92: {"bad_checksum"},
        93: {"bad_checksum", "bad_ttl"},
    }

    def all_reported(segments):
        return all(
            vrid in segments and set(segments[vrid]["anomalies"]) == names
            for vrid, names in wanted.items()
        )

    try:
        segments = probe.wait(all_reported, 10, "forged adverts reported")
    finally:
        sender.stop()
    assert sorted(r["address"] for r in segments[90]["routers"]) == ["10.30.0.41", "10.30.0.42"]
    assert router(segments[91], "10.30.0.40")["ttl"] == 64
    assert router(segments[92], "10.30.0.40")["checksum_form"] is None
    v6 = router(segments[93], rogue6)
    assert v6["checksum_form"] is None and v6["ttl"] == 1
    assert segments[93]["family"] == "inet6"


def test_observer_on_keepalived_nodes_hears_its_own_router_and_unicast(lab):
    """lvsmon on the keepalived nodes themselves, as deployed: the local master is seen too
    (its adverts are never looped back to raw sockets; the outgoing packet socket sees them).
    Unicast adverts are seen on both peers, and by nobody else on the segment."""
    segment = lab.segment("vrrp")
    a, b, obs = lab.namespace("a"), lab.namespace("b"), lab.namespace("obs")
    segment.attach(a, [f"{A4}/24", f"{A6}/64"])
    segment.attach(b, [f"{B4}/24", f"{B6}/64"])
    segment.attach(obs, [f"{OBS4}/24", f"{OBS6}/64"])

    def conf(node: str, priority: int, source: str, peer: str) -> str:
        return keepalived_conf(node, [
            vrrp_instance("MULTI", vrid=91, priority=priority, advert_int=0.5,
                          vips=["10.30.0.191/24"]),
            vrrp_instance("MULTI6", vrid=92, priority=priority, advert_int=0.5,
                          vips=["fd00:30::192/64"]),
            vrrp_instance("UNI", vrid=93, priority=priority, advert_int=0.5,
                          unicast_src=source, unicast_peers=[peer], vips=["10.30.0.193/24"]),
        ])  # fmt: skip

    spawn_keepalived(lab, a, conf("node-a", 150, A4, B4))
    spawn_keepalived(lab, b, conf("node-b", 100, B4, A4))
    for vip in ("10.30.0.191", "fd00:30::192", "10.30.0.193"):
        lab.wait_for(lambda vip=vip: a.has_address(vip), 15, what=f"{vip} on a")
    a6 = link_local(a)
    status = [sys.executable, "-m", "lvsmon", "vrrp", "status", "--json", "--duration", "2",
              "-i", "eth0"]  # fmt: skip
    seen = {}
    for node in (a, b, obs):
        done = node.run(status, env={"PYTHONPATH": REPO}, timeout=20)
        seen[node.short] = {view["vrid"]: view for view in json.loads(done.stdout)}
    for node in ("a", "b"):
        views = seen[node]
        assert sorted(views) == [91, 92, 93], (node, views)
        assert [views[v]["master"] for v in (91, 92, 93)] == [A4, a6, A4], node
        for view in views.values():
            assert view["anomalies"] == [], (node, view)
            (master,) = view["routers"]
            assert master["priority"] == 150 and master["ttl"] == 255
            assert master["checksum_form"] == "rfc5798"
    assert sorted(seen["obs"]) == [91, 92], seen["obs"]  # unicast VRID 93 never reaches it
