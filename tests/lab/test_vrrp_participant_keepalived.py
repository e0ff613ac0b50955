"""The lvsmon VRRP participant against real keepalived on one segment, seen by an observer.

Namespaces: a (keepalived), l (lvsmon vrrp participate), obs (the observer library through
tests.lab.vrrp_probe, and a neighbour cache that shows whose MAC holds the VIP). Scenarios
for VRRPv3 over IPv4, VRRPv2 with auth_type PASS and VRRPv3 over IPv6:
lvsmon preempts keepalived with a higher priority (its gratuitous ARP / unsolicited NA moves
obs's neighbour entry), lvsmon stops and keepalived takes over within its skew time, and
(IPv4 v3) lvsmon as backup takes over within Master_Down_Interval when keepalived dies.
The VIP is checked to be on exactly one node, sampled repeatedly. Then a hung track command.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from lvsmon.model.vrrp import master_down_interval, skew_time
from tests.lab.firewall import link_local
from tests.lab.keepalived import keepalived_conf, kill_hard, spawn_keepalived, vrrp_instance
from tests.lab.vrrp_participant import (
    mac_address,
    neighbour_mac,
    participant_toml,
    spawn_participant,
)
from tests.lab.vrrp_probe import Probe, router

pytestmark = pytest.mark.lab

A4, L4, OBS4 = "10.31.0.11", "10.31.0.12", "10.31.0.30"
A6, L6, OBS6 = "fd00:31::11", "fd00:31::12", "fd00:31::30"
SLACK = 0.6  # the probe publishes every 0.2 s; process start and scheduling


def build(lab):
    segment = lab.segment("vrrp")
    a, lv, obs = lab.namespace("a"), lab.namespace("l"), lab.namespace("obs")
    segment.attach(a, [f"{A4}/24", f"{A6}/64"])
    segment.attach(lv, [f"{L4}/24", f"{L6}/64"])
    segment.attach(obs, [f"{OBS4}/24", f"{OBS6}/64"])
    return a, lv, obs


def master_is(vrid: int, address: str):
    return lambda segments: vrid in segments and segments[vrid]["master"] == address


def vip_on_exactly(lab, vip: str, holder, other, samples: int = 10, every: float = 0.15):
    """The VIP is on `holder` and not on `other`, every time over a couple of seconds."""
    host = vip.split("/")[0]
    lab.wait_for(lambda: holder.has_address(host) and not other.has_address(host), 20,
                 what=f"{host} only on {holder.short}")
    for _ in range(samples):
        have = (holder.has_address(host), other.has_address(host))
        assert have == (True, False), f"{host} on ({holder.short}, {other.short}): {have}"
        time.sleep(every)


def first_advert_after(probe, vrid: int, source: str, after: float) -> float:
    """When `source`'s first advert after `after` (observer clock) was heard. The probe
    publishes every 0.2 s and adverts come every 1 s, so the first snapshot showing a
    later last_seen shows the first advert, if the caller looks at once (not after waiting
    for a process to exit: terminate() it first, stop() it after)."""

    def later():
        seen = router(probe.segments()[vrid], source)
        return seen["last_seen"] if seen and seen["last_seen"] > after else None

    return probe.lab.wait_for(later, 5, what=f"an advert from {source}")


def instance(vrid, priority, vip, **extra) -> dict:
    return {"name": f"web{vrid}", "interface": "eth0", "vrid": vrid, "priority": priority,
            "vips": [vip], **extra}


CASES = {
    # id: (vrid, version, vip, auth_pass, family)
    "v3-ipv4": (61, 3, "10.31.0.100/24", None, "inet"),
    "v2-pass": (62, 2, "10.31.0.101/24", "secret12", "inet"),
    "v3-ipv6": (63, 3, "fd00:31::100/64", None, "inet6"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_participant_with_keepalived(lab, case):
    vrid, version, vip, auth_pass, family = CASES[case]
    host = vip.split("/")[0]
    a, lv, obs = build(lab)
    if family == "inet":
        source_a, source_l = A4, L4
    else:
        source_a, source_l = link_local(a), link_local(lv)
    probe = Probe(lab, obs)
    figures = {}

    ka = spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance("VI", vrid=vrid, priority=100, version=version, advert_int=1,
                      auth_pass=auth_pass, vips=[vip]),
    ]))  # fmt: skip
    probe.wait(master_is(vrid, source_a), 10, "keepalived master")
    lab.wait_for(lambda: a.has_address(host), 5, what="VIP on a")
    obs.ping(host)  # obs now caches the VIP at a's MAC
    assert neighbour_mac(obs, host) == mac_address(a)

    extra = {"version": version, "advert_interval": 1}
    if auth_pass:
        extra["auth_pass"] = auth_pass
    high = participant_toml([instance(vrid, 150, vip, **extra)])
    started = time.monotonic()
    lvsmon = spawn_participant(lab, lv, high)
    segments = probe.wait(master_is(vrid, source_l), 30, "lvsmon preempts keepalived")
    figures["preempt"] = time.monotonic() - started
    mine = router(segments[vrid], source_l)
    assert (mine["priority"], mine["version"], mine["advert_interval"]) == (150, version, 1.0)
    assert mine["vips"] == [host]
    assert mine["auth_type"] == ("simple" if auth_pass else None)
    assert "auth_mismatch" not in segments[vrid]["anomalies"]
    vip_on_exactly(lab, vip, lv, a)
    # The gratuitous ARP / unsolicited NA moved obs's entry without obs asking.
    lab.wait_for(lambda: neighbour_mac(obs, host) == mac_address(lv), 4,
                 what="obs's neighbour entry for the VIP moved to l's MAC")

    # lvsmon stops: priority 0, keepalived takes over after its skew time (watched while
    # lvsmon exits, which may take longer than keepalived's next advert).
    lvsmon.terminate()
    segments = probe.wait(master_is(vrid, source_a), 5, "keepalived takes over")
    # From lvsmon's priority 0 advert to keepalived's first, both as the observer heard them.
    released = router(segments[vrid], source_l)
    assert released["priority"] == 0
    took_over = first_advert_after(probe, vrid, source_a, released["last_seen"])
    assert lvsmon.stop() == 0, lvsmon.describe()
    figures["release"] = took_over - released["last_seen"]
    assert 0 < figures["release"] < skew_time(1, 100) + 0.2, figures
    assert not lv.has_address(host)
    vip_on_exactly(lab, vip, a, lv)
    assert "INITIALIZE" in lvsmon.log() and "MASTER" in lvsmon.log()

    if case == "v3-ipv4":
        # lvsmon as backup (lower priority) never preempts; keepalived dies, lvsmon takes over.
        low = participant_toml([instance(vrid, 50, vip, **extra)])
        lvsmon = spawn_participant(lab, lv, low, name="lvsmon-low")
        time.sleep(2.5)
        assert probe.segments()[vrid]["master"] == source_a
        vip_on_exactly(lab, vip, a, lv, samples=3)
        kill_hard(ka)
        view = probe.wait(master_is(vrid, source_l), 8,
                          "lvsmon takes over from dead keepalived")[vrid]
        # From keepalived's last advert to lvsmon's first (the start of its run as master),
        # as the observer heard them: what Master_Down_Interval counts, whatever the test
        # process was doing meanwhile.
        figures["takeover"] = view["master_since"] - router(view, source_a)["last_seen"]
        assert 0 < figures["takeover"] < master_down_interval(1, 50) + SLACK, figures
        lab.wait_for(lambda: lv.has_address(host), 3, what="VIP on l")
        # A SIGKILLed keepalived leaves its VIP in a's kernel (nobody removes it): that is
        # the crash being simulated, so only the routers' adverts are compared here.
        probe.wait(lambda segs: [r["address"] for r in segs[vrid]["routers"]
                                 if r["advertising"]] == [source_l], 6, "only lvsmon advertises")
        assert "master down interval expired" in lvsmon.log()
    print(case, "figures (s):", {key: round(value, 2) for key, value in figures.items()})


def sleepers(namespace) -> list[int]:
    """Pids of `sleep 1000` processes inside this namespace."""
    found = []
    for pid in namespace.run(["ip", "netns", "pids", namespace.name]).stdout.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if handle.read().split(b"\0")[:2] == [b"sleep", b"1000"]:
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_hung_track_command_is_killed_and_priority_drops(lab):
    vrid, vip = 64, "10.31.0.104/24"
    a, lv, obs = build(lab)
    probe = Probe(lab, obs)
    spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance("VI", vrid=vrid, priority=100, version=3, advert_int=1, vips=[vip]),
    ]))  # fmt: skip
    probe.wait(master_is(vrid, A4), 10, "keepalived master")
    # Timeout 5 s: longer than lvsmon needs to preempt (Master_Down_Interval 3.4 s), so
    # the observer sees it master with 150 first, then with 50 once the check is killed.
    timeout = 5
    track = {"name": "hung", "command": ["sleep", "1000"], "interval": 1, "timeout": timeout,
             "weight": -100}
    state_file = lab.tmpdir / "state.json"
    lvsmon = spawn_participant(lab, lv, participant_toml([
        instance(vrid, 150, vip, track=[track]),
    ]), state_file=state_file)  # fmt: skip
    seen = {}  # pid -> first seen
    priorities = []
    deadline = time.monotonic() + 30  # ends 2 s after the drop; lvsmon's start may be slow
    dropped = None
    while time.monotonic() < deadline and (dropped is None or time.monotonic() < dropped + 2):
        now = time.monotonic()
        alive = sleepers(lv)
        for pid in alive:
            seen.setdefault(pid, now)
            # Sampling and process start add a little to the timeout.
            assert now - seen[pid] < timeout + 0.8, f"sleep {pid} alive {now - seen[pid]:.1f} s"
        mine = router(probe.segments().get(vrid, {"routers": []}), L4)
        if mine and (not priorities or priorities[-1] != mine["priority"]):
            priorities.append(mine["priority"])
        if priorities[-1:] == [50] and dropped is None:
            dropped = now
        time.sleep(0.1)
    assert seen, "the track command never ran"
    assert priorities[:2] == [150, 50], (priorities, lvsmon.log_tail())
    # keepalived (100) preempts lvsmon (now 50).
    probe.wait(master_is(vrid, A4), 5, "keepalived preempts the degraded lvsmon")
    assert f"timed out after {timeout} s, killed" in lvsmon.log()

    def state():
        (only,) = json.loads(state_file.read_text())["instances"]
        return only

    lab.wait_for(lambda: state()["state"] == "BACKUP", 10, what="state file shows BACKUP")
    now = state()
    assert (now["priority"], now["base_priority"], now["master"]) == (50, 150, A4)
    assert now["tracks"] == [{"name": "hung", "ok": False,
                              "detail": f"timed out after {timeout} s, killed"}]
    assert [(e["old"], e["new"]) for e in now["events"]] == [
        ("INITIALIZE", "BACKUP"), ("BACKUP", "MASTER"), ("MASTER", "BACKUP")]
    lvsmon.stop()
    assert lvsmon.returncode == 0, lvsmon.describe(40)
    assert state()["state"] == "INITIALIZE"
    assert sleepers(lv) == [], "a track command outlived the participant"


def test_unicast_peers_notify_hook_and_fault_track(lab):
    """VRRPv3 unicast between keepalived and lvsmon (the observer cannot hear it, so the VIP
    and the notify hook tell the story); a track with fault = true sends priority 0."""
    vrid, vip = 65, "10.31.0.105/24"
    host = vip.split("/")[0]
    a, lv, _obs = build(lab)
    notified = lab.tmpdir / "notify.txt"
    flag = lab.tmpdir / "fail-now"
    hook = lab.tmpdir / "notify.py"
    hook.write_text(
        "import sys\n"
        f"with open({str(notified)!r}, 'a') as out:\n"
        "    out.write(' '.join(sys.argv[1:]) + '\\n')\n"
    )
    ka = spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance("VI", vrid=vrid, priority=100, version=3, advert_int=1, vips=[vip],
                      unicast_src=A4, unicast_peers=[L4]),
    ]))  # fmt: skip
    lab.wait_for(lambda: a.has_address(host), 10, what="VIP on keepalived")
    track = {"name": "flag", "command": ["test", "!", "-e", str(flag)], "interval": 0.3,
             "timeout": 1, "fault": True}
    lvsmon = spawn_participant(lab, lv, participant_toml([
        instance(vrid, 150, vip, unicast_peers=[A4], notify=[sys.executable, str(hook), "--"],
                 track=[track]),
    ]))  # fmt: skip
    vip_on_exactly(lab, vip, lv, a)  # preempted over unicast
    lab.wait_for(lambda: "web65 MASTER 150" in notified.read_text(), 10, what="notify MASTER")

    # Fault: priority 0 to the peer, VIP removed; keepalived takes over within its skew time.
    flag.touch()
    lab.wait_for(lambda: "web65 FAULT 150" in notified.read_text(), 10, what="notify FAULT")
    faulted = time.monotonic()
    lab.wait_for(lambda: a.has_address(host), 3, what="keepalived master after the fault")
    assert time.monotonic() - faulted < skew_time(1, 100) + SLACK
    vip_on_exactly(lab, vip, a, lv, samples=5)

    # Recovery: BACKUP, then it preempts again.
    flag.unlink()
    vip_on_exactly(lab, vip, lv, a)
    assert notified.read_text().split("\n")[:4] == [
        "-- web65 BACKUP 150", "-- web65 MASTER 150", "-- web65 FAULT 150", "-- web65 BACKUP 150",
    ], notified.read_text()
    lvsmon.stop()
    assert lvsmon.returncode == 0, lvsmon.describe(40)
    vip_on_exactly(lab, vip, a, lv, samples=3)
    ka.check_running()


def test_participant_needs_only_net_raw_and_net_admin(lab):
    """As user nobody with CAP_NET_RAW and CAP_NET_ADMIN only: master, VIP, clean release."""
    vrid, vip = 66, "10.31.0.106/24"
    host = vip.split("/")[0]
    a, lv, obs = build(lab)
    probe = Probe(lab, obs)
    lab.tmpdir.chmod(0o755)  # nobody reads its config there
    caps = "-all,+net_raw,+net_admin"
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
              f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}"]
    lvsmon = spawn_participant(lab, lv, participant_toml([instance(vrid, 120, vip)]),
                               prefix=nobody)  # fmt: skip
    probe.wait(master_is(vrid, L4), 30, "lvsmon (nobody) master")
    lab.wait_for(lambda: lv.has_address(host), 3, what="VIP added by nobody")
    lvsmon.stop()
    assert lvsmon.returncode == 0, lvsmon.describe(40)
    assert not lv.has_address(host)
    assert "Traceback" not in lvsmon.log()


def test_nopreempt_then_keepalived_releases(lab):
    """lvsmon with nopreempt and a higher priority stays backup; keepalived's priority 0
    on SIGTERM hands over within lvsmon's skew time."""
    vrid, vip = 67, "10.31.0.107/24"
    a, lv, obs = build(lab)
    probe = Probe(lab, obs)
    ka = spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance("VI", vrid=vrid, priority=100, version=3, advert_int=1, vips=[vip]),
    ]))  # fmt: skip
    probe.wait(master_is(vrid, A4), 10, "keepalived master")
    lvsmon = spawn_participant(lab, lv, participant_toml([
        instance(vrid, 150, vip, preempt=False),
    ]))  # fmt: skip
    time.sleep(master_down_interval(1, 150) + 1)  # it would have preempted by now
    assert probe.segments()[vrid]["master"] == A4
    vip_on_exactly(lab, vip, a, lv, samples=3)
    ka.terminate()  # SIGTERM: keepalived sends priority 0 (and takes about 1 s to exit)
    segments = probe.wait(lambda segs: router(segs[vrid], A4)["priority"] == 0, 4,
                          "keepalived's priority 0")
    # From keepalived's priority 0 advert to lvsmon's first, both as the observer heard them.
    released = router(segments[vrid], A4)["last_seen"]
    elapsed = first_advert_after(probe, vrid, L4, released) - released
    ka.stop()
    assert 0 < elapsed < skew_time(1, 150) + 0.2, elapsed
    vip_on_exactly(lab, vip, lv, a, samples=3)
    lvsmon.check_running()
    print("takeover after keepalived's priority 0 (s):", round(elapsed, 2))


def test_virtual_mac(lab):
    """vmac = true: the VIP lives on macvlan vrrp.<VRID> with MAC 00:00:5e:00:01:<VRID>;
    neighbours cache that MAC, the VIP answers, and stopping removes the macvlan."""
    vrid, vip = 68, "10.31.0.108/24"
    host = vip.split("/")[0]
    a, lv, obs = build(lab)
    probe = Probe(lab, obs)
    ka = spawn_keepalived(lab, a, keepalived_conf("node-a", [
        vrrp_instance("VI", vrid=vrid, priority=100, version=3, advert_int=1, vips=[vip]),
    ]))  # fmt: skip
    probe.wait(master_is(vrid, A4), 10, "keepalived master")
    obs.ping(host)
    arp_ignore = "/proc/sys/net/ipv4/conf/eth0/arp_ignore"
    before = lv.run(["cat", arp_ignore]).stdout.strip()
    lvsmon = spawn_participant(lab, lv, participant_toml([instance(vrid, 150, vip, vmac=True)]))
    probe.wait(master_is(vrid, L4), 30, "lvsmon master")
    vip_on_exactly(lab, vip, lv, a, samples=5)
    assert any(a_.startswith(host) for a_ in lv.addresses(f"vrrp.{vrid}"))
    assert mac_address(lv, f"vrrp.{vrid}") == f"00:00:5e:00:01:{vrid:02x}"
    virtual = f"00:00:5e:00:01:{vrid:02x}"
    lab.wait_for(lambda: neighbour_mac(obs, host) == virtual, 4,
                 what="obs caches the VIP at the virtual MAC")
    obs.ping(host)
    assert neighbour_mac(obs, host) == virtual
    lvsmon.stop()
    assert lvsmon.returncode == 0, lvsmon.describe(40)
    probe.wait(master_is(vrid, A4), 5, "keepalived master again")
    assert f"vrrp.{vrid}" not in lv.ip("-o", "link").stdout
    assert lv.run(["cat", arp_ignore]).stdout.strip() == before
    ka.check_running()
