"""The pure RFC 5798 state machine, driven with a controlled clock (plain floats)."""

from __future__ import annotations

import pytest

from lvsmon.model.vrrp import master_down_interval, skew_time
from lvsmon.vrrp import state_machine as sm

ME, PEER_LOW, PEER_HIGH = "10.0.0.11", "10.0.0.5", "10.0.0.200"


def machine(priority=100, **extra) -> sm.StateMachine:
    params = sm.Params(vrid=51, priority=priority, advert_interval=1.0, address=ME, **extra)
    return sm.StateMachine(params)


def heard(priority, source=PEER_HIGH, interval=1.0) -> sm.Heard:
    return sm.Heard(source=source, priority=priority, advert_interval=interval)


def changes(actions):
    return [(a.old, a.new) for a in actions if isinstance(a, sm.StateChange)]


def test_startup_goes_backup_and_master_after_master_down_interval():
    m = machine(100)
    assert changes(m.start(0.0)) == [("INITIALIZE", "BACKUP")]
    down = master_down_interval(1.0, 100)  # 3 + 156/256
    assert m.deadline == pytest.approx(down)
    assert m.tick(down - 0.01) == []
    actions = m.tick(down)
    assert actions[0] == sm.SendAdvert(100)
    assert sm.AddAddresses() in actions
    assert changes(actions) == [("BACKUP", "MASTER")]
    assert m.master == ME
    # Adverts every interval afterwards.
    assert m.deadline == pytest.approx(down + 1)
    assert m.tick(down + 1) == [sm.SendAdvert(100)]


def test_owner_becomes_master_at_once():
    m = machine(255)
    actions = m.start(5.0)
    assert actions[0] == sm.SendAdvert(255) and changes(actions) == [("INITIALIZE", "MASTER")]


def test_backup_resets_its_timer_on_every_advert_from_a_better_master():
    m = machine(100)
    m.start(0.0)
    for now in (1.0, 2.0, 3.0, 4.0, 5.0):
        assert m.advert(now, heard(150)) == []
    assert m.deadline == pytest.approx(5.0 + master_down_interval(1.0, 100))
    assert m.master == PEER_HIGH and m.state == sm.BACKUP


def test_priority_zero_makes_backup_take_over_after_skew_time():
    m = machine(100)
    m.start(0.0)
    m.advert(1.0, heard(150))
    m.advert(2.0, heard(0))
    assert m.deadline == pytest.approx(2.0 + skew_time(1.0, 100))
    assert changes(m.tick(2.0 + skew_time(1.0, 100))) == [("BACKUP", "MASTER")]


def test_preempt_ignores_lower_priority_master():
    m = machine(150)
    m.start(0.0)
    for now in (1.0, 2.0, 3.0):
        m.advert(now, heard(100, PEER_LOW))
    # The lower master's adverts did not push the timer: we take over.
    assert changes(m.tick(master_down_interval(1.0, 150))) == [("BACKUP", "MASTER")]


def test_nopreempt_accepts_lower_priority_master():
    m = machine(150, preempt=False)
    m.start(0.0)
    for now in (1.0, 2.0, 3.0, 4.0):
        m.advert(now, heard(100, PEER_LOW))
    assert m.tick(4.5) == [] and m.state == sm.BACKUP
    assert m.master == PEER_LOW


def test_preempt_delay_holds_back_preemption_after_startup():
    m = machine(150, preempt_delay=10.0)
    m.start(0.0)
    now = 0.0
    while now < 10.0:
        now += 1.0
        m.advert(now, heard(100, PEER_LOW))
        assert m.tick(now) == [] and m.state == sm.BACKUP
    # After the delay, the lower master's adverts are ignored and we take over.
    m.advert(11.0, heard(100, PEER_LOW))
    assert changes(m.tick(10.0 + master_down_interval(1.0, 150))) == [("BACKUP", "MASTER")]


def test_master_yields_to_higher_priority_and_to_equal_priority_with_higher_address():
    for priority, source in ((150, PEER_LOW), (100, PEER_HIGH)):
        m = machine(100)
        m.start(0.0)
        m.tick(10.0)
        actions = m.advert(11.0, heard(priority, source))
        assert actions[0] == sm.RemoveAddresses()
        assert changes(actions) == [("MASTER", "BACKUP")]
        assert m.master == source


def test_master_keeps_mastership_against_lower_and_answers_priority_zero():
    m = machine(100)
    m.start(0.0)
    m.tick(10.0)
    assert m.advert(10.5, heard(50, PEER_HIGH)) == []
    assert m.advert(10.6, heard(100, PEER_LOW)) == []  # equal priority, lower address
    assert m.advert(10.7, heard(0, PEER_HIGH)) == [sm.SendAdvert(100)]
    assert m.state == sm.MASTER


def test_shutdown_of_master_sends_priority_zero_and_removes_addresses():
    m = machine(100)
    m.start(0.0)
    m.tick(10.0)
    actions = m.stop(12.0)
    assert actions[:2] == [sm.SendAdvert(0), sm.RemoveAddresses()]
    assert changes(actions) == [("MASTER", "INITIALIZE")]
    assert m.deadline is None


def test_fault_and_recovery():
    m = machine(100)
    m.start(0.0)
    m.tick(10.0)
    actions = m.stop(11.0, fault=True)
    assert sm.SendAdvert(0) in actions and changes(actions) == [("MASTER", "FAULT")]
    assert m.tick(100.0) == [] and m.advert(100.0, heard(50)) == []
    assert changes(m.start(101.0)) == [("FAULT", "BACKUP")]


def test_track_weight_lowers_priority_and_tells_backups_at_once():
    m = machine(150)
    m.start(0.0)
    m.tick(10.0)
    assert m.set_priority(10.2, 50) == [sm.SendAdvert(50)]
    assert m.tick(11.0) == []  # the advert timer restarted at 10.2
    assert m.tick(11.2) == [sm.SendAdvert(50)]
    assert m.set_priority(12.0, 50) == []
    assert m.set_priority(12.0, -20) == [sm.SendAdvert(1)]  # clamped to 1..254


def test_backup_skew_follows_effective_priority_and_v3_learns_master_interval():
    m = machine(200)
    m.start(0.0)
    m.set_priority(0.1, 100)
    m.advert(1.0, heard(250, interval=0.5))
    assert m.master_adver_interval == 0.5
    assert m.deadline == pytest.approx(1.0 + master_down_interval(0.5, 100))
    v2 = machine(100, learn_master_interval=False)
    v2.start(0.0)
    v2.advert(1.0, heard(250, interval=2.0))
    assert v2.master_adver_interval == 1.0


def test_owner_priority_is_not_changed_by_tracks():
    m = machine(255)
    m.start(0.0)
    assert m.set_priority(1.0, 100) == [] and m.priority == 255


def master_reason(actions):
    (change,) = [a for a in actions if isinstance(a, sm.StateChange)]
    return change.master_reason


def test_why_the_router_became_master_in_rfc_6527_words():
    assert master_reason(machine(255).start(0.0)) == "priority"
    silent = machine(100)
    silent.start(0.0)
    assert master_reason(silent.tick(master_down_interval(1.0, 100))) == "master_no_response"
    released = machine(100)
    released.start(0.0)
    released.advert(1.0, heard(150))
    released.advert(2.0, heard(0))
    assert master_reason(released.tick(2.0 + skew_time(1.0, 100))) == "master_no_response"
    preempting = machine(150)
    preempting.start(0.0)
    preempting.advert(1.0, heard(100, PEER_LOW))
    assert preempting.master == PEER_LOW and preempting.preempting
    actions = preempting.tick(master_down_interval(1.0, 150))
    assert master_reason(actions) == "preempted"
    assert [a.reason for a in actions if isinstance(a, sm.StateChange)] == [
        f"preempting the lower-priority master {PEER_LOW}"]
    # A lower master that then hears a better one is no preemption any more.
    outranked = machine(150)
    outranked.start(0.0)
    outranked.advert(1.0, heard(100, PEER_LOW))
    outranked.advert(2.0, heard(200))
    assert master_reason(outranked.tick(10.0)) == "master_no_response"
    # Leaving master carries no reason.
    assert master_reason(outranked.advert(11.0, heard(200))) is None
