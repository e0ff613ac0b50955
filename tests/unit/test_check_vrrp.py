"""check_vrrp on daemon states served by a real StatusServer on a temp unix socket.

The segment views come from the observer's own logic (lvsmon.vrrp.segment fed encoded and
decoded adverts on a made-up clock ending now), so every anomaly is the one the daemon would
report; a few are built by hand where the observer cannot make them (an anomaly name from a
newer daemon, a participant's instance). Every output is judged by tests/plugin_output.py.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time

import pytest

from lvsmon.config import DEFAULT_STATUS_SOCKET, FAMILIES
from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.vrrp import (
    Anomaly,
    InstanceSnapshot,
    ObserverSnapshot,
    ParticipantSnapshot,
    SegmentView,
    TrackStatus,
)
from lvsmon.vrrp.segment import Segment, Settings
from lvsmon_nagios import check_vrrp
from lvsmon_nagios.check_vrrp import main, master_changes_since
from tests.plugin_output import PluginOutput, judged, run_plugin
from tests.served_state import ServedState
from tests.vrrp_adverts import send, steps

A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"
A6, B6 = "fe80::1", "fe80::2"
VIPS6 = ("fd00::100",)
END = time.time()  # every snapshot is taken "now": the observer's clock ends here
T0 = END - 100
LINE = "'eth0 inet VRID 51"


def view(feed, *, interface="eth0", family="inet", vrid=51, at=END, **settings) -> SegmentView:
    """The view the observer publishes at `at` after feed(segment) gave it its adverts."""
    segment = Segment(interface, family, vrid, Settings(**settings))
    feed(segment)
    segment.tick(at)  # as Observer.snapshot() does
    return segment.snapshot(at)


def vrid(number: int, **kwargs):
    """Feeders take the VRID of the segment they feed."""
    return {"vrid": number, **kwargs}


def healthy(segment: Segment) -> None:
    """b came first; a (higher priority) preempted it 89 s ago and advertises since."""
    send(segment, B, 100, steps(T0, T0 + 10), vrid=segment.vrid)
    send(segment, A, 150, steps(T0 + 11.5, END - 0.5), vrid=segment.vrid)


def state(*views: SegmentView, observer: SourceState | None = None,
          participant: SourceState | None = None, interfaces=("eth0",)) -> DaemonState:
    if observer is None:
        snapshot = ObserverSnapshot(END, interfaces, tuple(views))
        observer = SourceState(enabled=True).succeeded(snapshot, END)
    return DaemonState(DaemonInfo("0.1.0", 4242, T0 - 10, END), vrrp=observer,
                       participant=participant or SourceState(enabled=False))


@pytest.fixture
def served(tmp_path):
    with ServedState(tmp_path / "run" / "status.sock", state()) as served:
        yield served


def check(served: ServedState, daemon_state: DaemonState, *argv: str, capsys) -> tuple[
        int, PluginOutput]:
    """check_vrrp run in this process against the served state; (exit code, output)."""
    served.state = daemon_state
    code = main(["--socket", served.path, *argv])
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    return code, judged(code, captured.out)


# -- healthy segments, and what a legitimate failover looks like -----------------------------


def test_healthy_pair_is_ok_with_perfdata_per_segment(served, capsys):
    code, out = check(served, state(view(healthy)), capsys=capsys)
    assert code == 0
    assert out.status_line == ("VRRP OK - eth0 inet VRID 51: master 10.0.0.1 (priority 150), "
                               "2 routers heard")
    perf = out.perfdata
    assert {label: (p.value, p.unit) for label, p in perf.items()} == {
        "eth0 inet VRID 51 masters": (1, ""),
        "eth0 inet VRID 51 routers": (2, ""),
        "eth0 inet VRID 51 master_changes": (1, "c"),  # the preemption, 89 s ago
        "eth0 inet VRID 51 recent_master_changes": (0, ""),  # none in the last 60 s
        "eth0 inet VRID 51 last_advert": (0.5, "s"),
        "segments": (1, ""),
    }
    assert all(p.min == 0 for p in perf.values())
    assert out.long_text == []


def test_segments_are_listed_up_to_three_then_counted(served, capsys):
    views = [view(healthy, vrid=number) for number in (51, 52, 53)]
    _, out = check(served, state(*views), capsys=capsys)
    assert out.summary.count("master 10.0.0.1 (priority 150)") == 3
    assert out.perfdata["eth0 inet VRID 53 masters"].value == 1
    views.append(view(healthy, vrid=54))
    code, out = check(served, state(*views), capsys=capsys)
    assert (code, out.summary) == (0, "4 VRIDs, each with one master")
    assert out.perfdata["segments"].value == 4


def test_failover_after_a_crash_is_ok(served, capsys):
    """a stops without a word at T0 + 50; b takes over after its Master_Down_Interval."""
    def failover(segment):
        send(segment, A, 150, steps(T0, T0 + 50), vrid=51)
        send(segment, B, 100, steps(T0 + 54, END - 0.2), vrid=51)

    code, out = check(served, state(view(failover)), capsys=capsys)
    assert code == 0, out.status_line
    assert out.summary == "eth0 inet VRID 51: master 10.0.0.2 (priority 100), 2 routers heard"
    assert out.perfdata["eth0 inet VRID 51 master_changes"].value == 1
    assert out.perfdata["eth0 inet VRID 51 recent_master_changes"].value == 1


def test_nobody_advertising_during_a_takeover_is_ok(served, capsys):
    """The master fell silent 4 s ago: past its own Master_Down_Interval (3.4 s), so it no
    longer counts as advertising, but the slowest backup may still be waiting (4.5 s)."""
    code, out = check(served, state(view(lambda s: send(s, A, 150, steps(T0, END - 4), vrid=51))),
                      capsys=capsys)
    assert code == 0, out.status_line
    assert out.summary == ("eth0 inet VRID 51: nobody advertising for 4.0 s, within the "
                           "takeover time")
    assert out.perfdata["eth0 inet VRID 51 masters"].value == 0
    assert out.perfdata["eth0 inet VRID 51 last_advert"].value == 4.0


def test_a_graceful_release_being_answered_is_ok(served, capsys):
    """keepalived stopping sends priority 0; the backup answers within its skew time."""
    def release(segment):
        send(segment, A, 150, steps(T0, END - 1), vrid=51)
        send(segment, A, 0, [END - 0.3], vrid=51)

    released = view(release)
    assert released.anomaly_names == ("graceful_release",) and released.master is None
    code, out = check(served, state(released), "-v", capsys=capsys)
    assert code == 0, out.status_line
    assert "anomalies: graceful_release" in out.long_text[0]


# -- CRITICAL -----------------------------------------------------------------------------------


def split_brain(segment: Segment) -> None:
    send(segment, A, 150, steps(T0, END - 0.2), vrid=segment.vrid)
    send(segment, B, 100, steps(T0 + 80, END - 0.3), vrid=segment.vrid)


def test_split_brain_is_critical(served, capsys):
    code, out = check(served, state(view(split_brain)), capsys=capsys)
    assert code == 2
    assert out.summary.startswith("eth0 inet VRID 51: split brain for ")
    assert out.summary.endswith("(2 routers advertising at once: 10.0.0.1, 10.0.0.2)")
    assert out.perfdata["eth0 inet VRID 51 masters"].value == 2


def test_no_master_is_critical(served, capsys):
    silent = view(lambda s: send(s, A, 150, steps(T0, T0 + 50), vrid=51))
    code, out = check(served, state(silent), capsys=capsys)
    assert code == 2
    assert out.summary == ("eth0 inet VRID 51: no master for 46 s (no advert for more than "
                           "4.50 s)")
    assert out.perfdata["eth0 inet VRID 51 last_advert"].value == 50


def test_every_problem_is_named_worst_first(served, capsys):
    def vip_mismatch(segment):
        send(segment, B, 100, steps(T0 + 40, T0 + 45), vrid=52, vips=("10.0.0.100", "10.0.0.101"))
        send(segment, A, 150, steps(T0 + 46, END - 0.2), vrid=52)

    code, out = check(served, state(view(vip_mismatch, vrid=52), view(split_brain)),
                      capsys=capsys)
    assert code == 2
    critical, warning = out.summary.split("; ", 1)
    assert critical.startswith("eth0 inet VRID 51: split brain")
    assert warning.startswith("eth0 inet VRID 52: VIP set mismatch for 54 s ({10.0.0.100, "
                              "10.0.0.101}: 10.0.0.2; {10.0.0.100}: 10.0.0.1")


# -- WARNING ------------------------------------------------------------------------------------


def silent_peer(**peer):
    """b advertised (as master) 55 s ago with `peer`'s settings; a preempted it since."""
    def feed(segment):
        send(segment, B, peer.pop("priority", 100), steps(T0 + 40, T0 + 45), vrid=51, **peer)
        send(segment, A, 150, steps(T0 + 46, END - 0.2), vrid=51)
    return feed


@pytest.mark.parametrize("feed, words", [
    (silent_peer(interval_cs=200), "advert interval mismatch"),
    (silent_peer(version=2), "VRRP version mismatch"),
    (silent_peer(vips=("10.0.0.100", "10.0.0.101")), "VIP set mismatch"),
    (silent_peer(vips=("10.9.9.9",)), "VRID collision"),
    (silent_peer(priority=255), None),  # one owner only: fine
    (lambda s: (send(s, B, 100, steps(T0 + 40, T0 + 45), vrid=51, version=2, password="one"),
                send(s, A, 150, steps(T0 + 46, END - 0.2), vrid=51, version=2, password="two")),
     "authentication mismatch"),
    (lambda s: (send(s, B, 255, steps(T0 + 40, T0 + 45), vrid=51),
                send(s, A, 255, steps(T0 + 46, END - 0.2), vrid=51)),
     "duplicate address owner"),
    (lambda s: send(s, A, 150, steps(T0, END - 0.2), vrid=51, ttl=64), "bad TTL"),
    (lambda s: send(s, A, 150, steps(T0, END - 0.2), vrid=51, corrupt=True), "bad checksum"),
], ids=["interval", "version", "vips", "collision", "one-owner", "auth", "owner", "ttl",
        "checksum"])
def test_misconfigurations_warn(served, capsys, feed, words):
    code, out = check(served, state(view(feed)), capsys=capsys)
    if words is None:
        assert code == 0, out.status_line
        return
    assert code == 1, out.status_line
    assert out.summary.startswith(f"eth0 inet VRID 51: {words} for "), out.summary
    assert "one" not in out.summary and "two" not in out.summary  # passwords never shown


def flapping(segment: Segment) -> None:
    """a and b hand over six times, 5 s apart (each release answered), then a stays: the
    master changes 55, 60, 65, 70, 75 and 80 s after T0."""
    at = T0 + 50
    for turn in range(6):
        router, priority = (A, 150) if turn % 2 == 0 else (B, 100)
        send(segment, router, priority, steps(at, at + 4), vrid=51)
        send(segment, router, 0, [at + 4.5], vrid=51)
        at += 5
    send(segment, A, 150, steps(at, END - 0.2), vrid=51)


def test_flapping_warns_by_the_daemons_own_threshold(served, capsys):
    flaps = view(flapping)  # the daemon's defaults: more than 3 changes in 60 s
    assert flaps.master_changes == 6 and "flapping" in flaps.anomaly_names
    code, out = check(served, state(flaps), capsys=capsys)
    assert code == 1
    assert out.summary.startswith("eth0 inet VRID 51: flapping for ")
    assert out.summary.endswith("(more than 3 master changes in 60 s)")
    assert out.perfdata["eth0 inet VRID 51 recent_master_changes"].value == 6


def test_flap_ranges_replace_the_daemons_threshold(served, capsys):
    flaps = view(flapping)
    code, out = check(served, state(flaps), "--flap-warning", "10", capsys=capsys)
    assert code == 0, out.status_line  # 6 changes are within 0..10
    perf = out.perfdata["eth0 inet VRID 51 recent_master_changes"]
    assert (perf.value, perf.warn, perf.crit) == (6, "10", "")
    code, out = check(served, state(flaps), "-w", "2", "-c", "4", capsys=capsys)
    assert code == 2
    assert out.summary == "eth0 inet VRID 51: 6 master changes in the last 60 s (more than 4)"
    # The changes came 55, 60, ... 80 s after T0: two of them in the last 27 s.
    code, out = check(served, state(flaps), "-w", "1", "--flap-window", "27", capsys=capsys)
    assert code == 1
    assert out.summary == "eth0 inet VRID 51: 2 master changes in the last 27 s (more than 1)"


def test_master_changes_are_counted_from_a_cut_event_log_too():
    full = view(flapping)
    cut = view(flapping, event_log_length=8)
    assert full.master_changes == cut.master_changes == 6
    assert len(cut.events) == 8
    for since in (T0, T0 + 60, T0 + 70, END):
        # the cut log misses nothing recent; where it reaches back no further, a lower bound
        assert master_changes_since(cut, since) <= master_changes_since(full, since)
    assert master_changes_since(full, T0) == 6
    assert master_changes_since(full, T0 + 70) == master_changes_since(cut, T0 + 70) == 2


def test_an_anomaly_this_check_does_not_know_warns_by_name(served, capsys):
    newer = Anomaly("clock_skew", END - 30, None, (A,), "adverts from the future")
    healthy_view = view(healthy)
    odd = dataclasses.replace(healthy_view,
                              anomaly_history=healthy_view.anomaly_history + (newer,))
    code, out = check(served, state(odd), capsys=capsys)
    assert (code, out.summary) == (1, "eth0 inet VRID 51: clock_skew for 30 s (adverts from "
                                      "the future)")


# -- selection ------------------------------------------------------------------------------------


def both_families_and_interfaces() -> DaemonState:
    return state(
        view(healthy),
        view(split_brain, vrid=52),
        view(lambda s: send(s, A6, 150, steps(T0, END - 0.2), vrid=51, vips=VIPS6),
             family="inet6"),
        view(healthy, interface="eth1"),
        interfaces=("eth0", "eth1"))


@pytest.mark.parametrize("argv, judged_segments", [
    ((), ["eth0 inet VRID 51", "eth0 inet VRID 52", "eth0 inet6 VRID 51", "eth1 inet VRID 51"]),
    (("--vrid", "51"), ["eth0 inet VRID 51", "eth0 inet6 VRID 51", "eth1 inet VRID 51"]),
    (("--family", "inet6"), ["eth0 inet6 VRID 51"]),
    (("--interface", "eth1"), ["eth1 inet VRID 51"]),
    (("--interface", "eth0", "--family", "inet", "--vrid", "52"), ["eth0 inet VRID 52"]),
])
def test_selection(served, capsys, argv, judged_segments):
    code, out = check(served, both_families_and_interfaces(), *argv, capsys=capsys)
    labels = sorted(label.removesuffix(" masters") for label in out.perfdata
                    if label.endswith(" masters"))
    assert labels == judged_segments
    assert out.perfdata["segments"].value == len(judged_segments)
    assert code == (2 if "eth0 inet VRID 52" in judged_segments else 0), out.status_line


def test_a_selection_matching_nothing_warns_and_says_what_was_heard(served, capsys):
    code, out = check(served, both_families_and_interfaces(), "--vrid", "99", capsys=capsys)
    assert code == 1
    assert out.summary == ("no VRID heard matches --vrid 99 (heard: eth0 inet VRID 51, eth0 "
                           "inet VRID 52, eth0 inet6 VRID 51, eth1 inet VRID 51)")
    assert out.perfdata["segments"].value == 0


def test_nothing_heard_at_all_warns(served, capsys):
    code, out = check(served, state(interfaces=("eth0", "eth1")), capsys=capsys)
    assert (code, out.summary) == (1, "no VRRP advert heard (the daemon listens on eth0, eth1)")


# -- --expect-master ------------------------------------------------------------------------------


def test_expect_master(served, capsys):
    code, out = check(served, state(view(healthy)), "--vrid", "51", "--expect-master", A,
                      capsys=capsys)
    assert code == 0, out.status_line
    code, out = check(served, state(view(healthy)), "--vrid", "51", "--expect-master", B,
                      capsys=capsys)
    assert (code, out.summary) == (1, "eth0 inet VRID 51: master is 10.0.0.1, not 10.0.0.2 "
                                      "as expected")


def test_expect_master_compares_addresses_not_spellings(served, capsys):
    six = view(lambda s: send(s, A6, 150, steps(T0, END - 0.2), vrid=51, vips=VIPS6),
               family="inet6")
    code, out = check(served, state(six), "--vrid", "51", "--expect-master",
                      "fe80:0:0:0:0:0:0:1%eth0", capsys=capsys)
    assert code == 0, out.status_line


def test_expect_master_during_a_takeover_is_left_to_no_master(served, capsys):
    gap = view(lambda s: send(s, A, 150, steps(T0, END - 4), vrid=51))
    code, out = check(served, state(gap), "--vrid", "51", "--expect-master", B, capsys=capsys)
    assert code == 0, out.status_line


def test_expect_master_on_several_segments_judges_each(served, capsys):
    code, out = check(served, both_families_and_interfaces(), "--vrid", "51", "--family",
                      "inet", "--expect-master", A, capsys=capsys)
    assert code == 0 and out.perfdata["segments"].value == 2, out.status_line


# -- --instance ------------------------------------------------------------------------------


def instance(state_name="BACKUP", **changes) -> InstanceSnapshot:
    fields = dict(name="web71", interface="eth0", family="inet", vrid=71, version=3,
                  state=state_name, priority=100, base_priority=100, source=C, master=A,
                  since=END - 30, events=(), tracks=())
    fields.update(changes)
    return InstanceSnapshot(**fields)


def participant(*instances: InstanceSnapshot) -> SourceState:
    return SourceState(enabled=True).succeeded(ParticipantSnapshot(END, instances), END)


def with_instance(*instances: InstanceSnapshot) -> DaemonState:
    return state(view(healthy), view(split_brain, vrid=52), view(healthy, vrid=71),
                 participant=participant(*instances))


def test_instance_judges_its_own_segment_and_its_state(served, capsys):
    code, out = check(served, with_instance(instance()), "--instance", "web71",
                      "--expect-state", "backup", capsys=capsys)
    assert code == 0, out.status_line  # VRID 52's split brain is not this instance's segment
    assert out.summary == ("eth0 inet VRID 71: master 10.0.0.1 (priority 150), 2 routers "
                           "heard; instance web71 BACKUP, priority 100")
    state_perf = out.perfdata["instance web71 state"]
    assert (state_perf.value, state_perf.min, state_perf.max) == (1, 0, 3)
    assert out.perfdata["instance web71 priority"].value == 100
    assert out.perfdata["segments"].value == 1


def test_instance_in_another_state_warns(served, capsys):
    code, out = check(served, with_instance(instance()), "--instance", "web71",
                      "--expect-state", "master", capsys=capsys)
    assert (code, out.summary) == (1, "instance web71 is BACKUP, expected MASTER")
    failing = instance("FAULT", priority=40, tracks=(TrackStatus("nginx", False, "exit 1"),))
    code, out = check(served, with_instance(failing), "--instance", "web71", capsys=capsys)
    assert (code, out.summary) == (1, "instance web71 is FAULT (failing: nginx)")
    assert out.perfdata["instance web71 state"].value == 3


@pytest.mark.parametrize("name, number", [("INITIALIZE", 0), ("BACKUP", 1), ("MASTER", 2)])
def test_instance_state_numbers_follow_keepalived(served, capsys, name, number):
    code, out = check(served, with_instance(instance(name)), "--instance", "web71",
                      capsys=capsys)
    assert code == 0 and out.perfdata["instance web71 state"].value == number


def test_instance_with_a_selection_of_its_own_judges_that(served, capsys):
    code, out = check(served, with_instance(instance()), "--instance", "web71", "--vrid", "52",
                      capsys=capsys)
    assert code == 2 and "split brain" in out.summary


def test_instance_of_a_participant_only_daemon(served, capsys):
    daemon = state(observer=SourceState(enabled=False),
                   participant=participant(instance("MASTER", master=C)))
    code, out = check(served, daemon, "--instance", "web71", "--expect-state", "master",
                      capsys=capsys)
    assert (code, out.summary) == (0, "instance web71 MASTER, priority 100")
    assert set(out.perfdata) == {"instance web71 state", "instance web71 priority"}


def test_unknown_instance_or_no_participant_is_unknown(served, capsys):
    code, out = check(served, with_instance(instance()), "--instance", "web99", capsys=capsys)
    assert (code, out.summary) == (3, "the daemon's VRRP participant has no instance 'web99' "
                                      "(its instances: web71)")
    code, out = check(served, state(view(healthy)), "--instance", "web71", capsys=capsys)
    assert (code, out.summary) == (3, "the daemon's VRRP participant is off: configure it "
                                      "with [[vrrp.instance]] tables")


# -- UNKNOWN: the daemon cannot tell ---------------------------------------------------------


def test_observer_off_failing_or_starting_is_unknown(served, capsys):
    failing = SourceState(enabled=True).failed("no interface to observe: name one", END - 20)
    cases = [
        (SourceState(enabled=False),
         "the daemon's VRRP observer is off: set [observer] enabled = true in its "
         "configuration"),
        (failing, "the daemon's VRRP observer is unavailable since "
                  f"{time.strftime('%H:%M:%S', time.localtime(END - 20))}: no interface to "
                  "observe: name one"),
        (SourceState(enabled=True), "the daemon's VRRP observer is starting: no snapshot yet"),
    ]
    for observer, summary in cases:
        code, out = check(served, state(observer=observer), capsys=capsys)
        assert (code, out.summary) == (3, summary)
        assert out.perfdata == {} and out.long_text == []


def test_the_default_socket_is_the_daemons(capsys):
    if os.path.exists(DEFAULT_STATUS_SOCKET):
        pytest.skip(f"a daemon's socket exists at {DEFAULT_STATUS_SOCKET} on this machine")
    code = main(["--socket", ""])  # an empty --socket is no --socket: the default
    out = judged(code, capsys.readouterr().out)
    assert (code, out.summary) == (3, f"no lvsmon daemon at {DEFAULT_STATUS_SOCKET}: start it "
                                      "with `lvsmon run`")
    assert check_vrrp.FAMILIES == FAMILIES  # the words the daemon's config and model use


def test_no_daemon_is_unknown(tmp_path):
    path = tmp_path / "status.sock"
    run = run_plugin([sys.executable, "-m", "lvsmon_nagios.check_vrrp", "--socket", str(path)])
    assert run.code == 3
    assert run.stdout == f"VRRP UNKNOWN - no lvsmon daemon at {path}: start it with `lvsmon run`\n"


def test_a_daemon_that_never_answers_is_unknown_within_the_timeout(tmp_path):
    path = str(tmp_path / "status.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(path)
        mute.listen(8)  # connections are queued, never accepted, never answered
        run = run_plugin([sys.executable, "-m", "lvsmon_nagios.check_vrrp", "--socket", path,
                          "-t", "1"])
    assert run.code == 3
    assert run.stdout == (f"VRRP UNKNOWN - lvsmon daemon at {path} did not answer within "
                          "0.8 s\n")


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "check_vrrp: unrecognized arguments: --bogus"),
    (["-w", "5:1"], "check_vrrp: argument -w/--flap-warning: bad range '5:1': its start 5 is "
                    "greater than its end 1"),
    (["--flap-critical", "x"], "check_vrrp: argument -c/--flap-critical: bad range 'x'"),
    (["--vrid", "0"], "check_vrrp: argument --vrid: VRID 0 out of range 1 to 255"),
    (["--vrid", "x"], "check_vrrp: argument --vrid: 'x' is not a VRID (1 to 255)"),
    (["--family", "ipx"], "check_vrrp: argument --family: invalid choice: 'ipx'"),
    (["--expect-master", "10.0.0.300", "--vrid", "5"],
     "check_vrrp: argument --expect-master: '10.0.0.300' is not an IPv4 or IPv6 address"),
    (["--expect-master", "10.0.0.1"], "check_vrrp: --expect-master needs --vrid"),
    (["--expect-state", "master"], "check_vrrp: --expect-state needs --instance NAME"),
    (["--expect-state", "fault", "--instance", "x"],
     "check_vrrp: argument --expect-state: invalid choice: 'fault'"),
    (["--flap-window", "0"], "check_vrrp: argument --flap-window: flap window 0 s out of range"),
    (["-t", "0"], "check_vrrp: argument -t/--timeout: 0 is not a timeout"),
])
def test_bad_arguments_are_unknown_with_one_line(served, capsys, argv, message):
    code, out = check(served, state(view(healthy)), *argv, capsys=capsys)
    assert code == 3
    assert out.summary.startswith(message), out.summary
    assert out.long_text == [] and out.perfdata == {}


def test_a_real_process_writes_only_stdout(served):
    served.state = state(view(split_brain))
    run = run_plugin([sys.executable, "-m", "lvsmon_nagios.check_vrrp", "--socket",
                      served.path, "-v"])
    assert run.code == 2 and run.status_line.startswith("VRRP CRITICAL - eth0 inet VRID 51: ")
    run = run_plugin([sys.executable, "-m", "lvsmon_nagios.check_vrrp", "--vrid", "x"])
    assert run.code == 3 and run.stdout.count("\n") == 1


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for words in ("--expect-master", "--flap-window", "recent_master_changes", "Exit codes",
                  f"[default: the daemon's, {DEFAULT_STATUS_SOCKET}]"):
        assert words in " ".join(text.split()), words
    assert main(["-V"]) == 0
    assert capsys.readouterr().out.startswith("check_vrrp (lvsmon) ")


# -- long output ------------------------------------------------------------------------------


def test_verbose_output_has_a_line_per_segment_then_routers_and_ended_anomalies(served, capsys):
    flaps = view(flapping)
    daemon = state(flaps, view(healthy, vrid=52))
    _, out = check(served, daemon, "-v", capsys=capsys)
    assert out.long_text[0].startswith("warning: eth0 inet VRID 51: flapping for ")
    assert out.long_text[1].startswith("eth0 inet VRID 51: master 10.0.0.1 since ")
    assert "; 2 routers heard, 1 advertising; 6 master changes (6 in the last 60 s);" in \
        out.long_text[1]
    assert out.long_text[2].startswith("eth0 inet VRID 52: master 10.0.0.1")
    _, out = check(served, daemon, "-vv", capsys=capsys)
    routers = [line for line in out.long_text if line.startswith("  router ")]
    assert len(routers) == 4
    assert routers[0].startswith("  router 10.0.0.1 priority 150, VRRPv3, every 1 s, VIPs "
                                 "10.0.0.100, ")
    ended = [line for line in out.long_text if line.startswith("  ended: graceful_release")]
    assert len(ended) == 6


def test_labels_stay_in_the_grammar_whatever_the_interface_is_called(served, capsys):
    """An interface name may hold ' and =, which no perfdata label can: they become _."""
    code, out = check(served, state(view(split_brain, interface="lan'0=a"),
                                    interfaces=("lan'0=a",)), capsys=capsys)
    assert code == 2
    assert out.summary.startswith("lan'0=a inet VRID 51: split brain for ")
    assert out.perfdata["lan_0_a inet VRID 51 masters"].value == 2


def test_instance_whose_segment_is_not_heard_warns(served, capsys):
    daemon = state(view(healthy), participant=participant(instance()))
    code, out = check(served, daemon, "--instance", "web71", capsys=capsys)
    assert (code, out.summary) == (1, "no VRID heard matches instance web71's segment eth0 "
                                      "inet VRID 71 (heard: eth0 inet VRID 51)")


# -- configured versus heard (the daemon reads this node's keepalived.conf) ------------------


def configured(priority=150, vips=("10.0.0.100",), own=A, heard_priority=150, **advert):
    """This node (address `own`) configured as VI_1 at `priority`; it advertises at
    `heard_priority` since T0 + 11.5 after b, as in healthy()."""
    from lvsmon.model.vrrp import VrrpExpectation

    expectation = VrrpExpectation(instance="VI_1", interface="eth0", family="inet", vrid=51,
                                  priority=priority, advert_interval_centiseconds=100,
                                  version=3, vips=vips, own_addresses=(own,))

    def feed(segment):
        segment.expect(expectation, T0)
        send(segment, B, 100, steps(T0, T0 + 10), vrid=51)
        send(segment, A, heard_priority, steps(T0 + 11.5, END - 0.5), vrid=51, **advert)
    return feed


def test_a_configured_segment_is_named_and_shows_this_nodes_state(served, capsys):
    code, out = check(served, state(view(configured())), "-v", capsys=capsys)
    assert code == 0, out.status_line
    assert out.status_line == ("VRRP OK - eth0 inet VRID 51 (VI_1): master 10.0.0.1 (priority "
                               "150), 2 routers heard, this node master")
    assert out.perfdata["eth0 inet VRID 51 own_state"].value == 2
    # The peer is master: this node is backup.
    code, out = check(served, state(view(configured(own=B))), capsys=capsys)
    assert code == 0 and out.status_line.endswith("this node backup")
    assert out.perfdata["eth0 inet VRID 51 own_state"].value == 1


@pytest.mark.parametrize("feed, words, detail", [
    (configured(heard_priority=120), "priority not as in keepalived.conf",
     "configured 150, heard 120 from 10.0.0.1"),
    (configured(vips=("10.0.0.100", "10.0.0.101")), "VIPs not as in keepalived.conf",
     "from 10.0.0.1"),
    (configured(interval_cs=200), "advert interval not as in keepalived.conf",
     "configured 1 s, heard 2 s from 10.0.0.1"),
    (configured(version=2), "VRRP version not as in keepalived.conf",
     "configured VRRPv3, heard VRRPv2 from 10.0.0.1"),
], ids=["priority", "vips", "interval", "version"])
def test_configured_versus_heard_warns_with_the_instance_name(served, capsys, feed, words,
                                                               detail):
    code, out = check(served, state(view(feed)), capsys=capsys)
    assert code == 1, out.status_line
    assert out.summary.startswith(f"eth0 inet VRID 51 (VI_1): {words} for "), out.summary
    assert detail in out.summary


def test_a_peers_priority_is_not_this_files(served, capsys):
    """Only this node's own router is held to the file's priority."""
    code, out = check(served, state(view(configured(own=B, heard_priority=120))), capsys=capsys)
    assert code == 0, out.status_line


def test_this_nodes_instance_in_fault_warns(served, capsys):
    from lvsmon.model.vrrp import VrrpExpectation

    def feed(segment):  # configured, but nobody has advertised VRID 51 for 100 s
        segment.expect(VrrpExpectation("VI_1", "eth0", "inet", 51, 150, 100, 3,
                                       ("10.0.0.100",), own_addresses=(A,)), T0)
    code, out = check(served, state(view(feed)), capsys=capsys)
    assert code == 1, out.status_line
    assert out.summary.startswith("eth0 inet VRID 51 (VI_1): this node's keepalived instance "
                                  "is in fault"), out.summary
    assert out.perfdata["eth0 inet VRID 51 own_state"].value == 3
