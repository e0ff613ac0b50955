"""The observer's detections, fed real advert bytes (encoded, then decoded) and a made-up clock."""

from __future__ import annotations

import socket

import pytest

from lvsmon.cli.vrrp_cmd import WIDTH, render_status, render_watch
from lvsmon.model.vrrp import master_down_interval
from lvsmon.vrrp import codec, sockets
from lvsmon.vrrp.observer import Observer
from lvsmon.vrrp.segment import Segment, Settings
from tests.vrrp_adverts import advert, send, steps

A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"


def history(segment, now, name):
    return [a for a in segment.snapshot(now).anomaly_history if a.name == name]


def new_segment(**settings):
    return Segment("eth0", "inet", 7, Settings(**settings))


def test_master_down_interval_follows_rfc_5798():
    assert master_down_interval(1.0, 100) == pytest.approx(3 + 156 / 256)
    assert master_down_interval(0.5, 255) == pytest.approx(1.5 + 0.5 / 256)


def test_one_master_is_seen_with_its_details():
    segment = new_segment()
    send(segment, A, 150, steps(0, 5), vips=("10.0.0.100", "10.0.0.101"), version=2,
         password="secret12")  # fmt: skip
    view = segment.snapshot(5.5)
    assert (view.master, view.master_since, view.master_changes) == (A, 0, 0)
    (router,) = view.routers
    assert (router.priority, router.version, router.auth_type) == (150, 2, "simple")
    assert router.vips == ("10.0.0.100", "10.0.0.101")
    assert (router.adverts, router.first_seen, router.last_seen) == (6, 0, 5)
    assert router.advert_interval_seconds == 1 and router.advertising
    assert router.checksum_form == "rfc3768"
    assert view.anomaly_history == ()


def test_preemption_overlap_is_not_split_brain():
    segment = new_segment()
    send(segment, A, 100, steps(0, 10))
    send(segment, B, 200, [10.0])
    send(segment, A, 100, [10.3])  # the old master's advert still in flight
    for now in steps(10.2, 30, 0.1):
        segment.tick(now)
        if round(now * 10) % 10 == 0:
            send(segment, B, 200, [now])
    view = segment.snapshot(30)
    assert view.anomaly_history == ()
    assert (view.master, view.master_since, view.master_changes) == (B, 10.0, 1)
    assert [r.advertising for r in view.routers] == [False, True]


def test_split_brain_starts_past_master_down_interval_and_ends_when_one_stops():
    limit = master_down_interval(1.0, 100)  # 3.609 s
    segment = new_segment()
    send(segment, A, 200, steps(0, 5))
    for now in steps(5, 8.5, 0.5):  # B advertises alongside A: overlap 3.5 s < limit
        send(segment, A, 200, [now])
        send(segment, B, 100, [now])
    assert history(segment, 8.5, "split_brain") == []
    send(segment, A, 200, [9.0])
    send(segment, B, 100, [9.0])  # overlap 4.0 s > limit
    (item,) = history(segment, 9.0, "split_brain")
    assert (item.start, item.end, item.routers) == (5.0, None, (A, B))
    assert segment.snapshot(9.0).anomaly_names == ("split_brain",)
    assert segment.snapshot(9.0).master == A  # the higher priority

    for now in steps(9.5, 30, 0.5):  # B stops after 20 s, A goes on
        send(segment, A, 200, [now])
        if now <= 20:
            send(segment, B, 100, [now])
        segment.tick(now)
        if now < 20 + limit:
            assert history(segment, now, "split_brain")[0].active
    (item,) = history(segment, 30, "split_brain")
    assert (item.start, item.end) == (5.0, 20.0)
    assert history(segment, 30, "no_master") == []


def test_no_master_after_the_slowest_backup_would_have_taken_over():
    wait = master_down_interval(1.0, 1) + 0.5  # 4.496 s
    segment = new_segment()
    send(segment, A, 100, steps(0, 5))
    for now in steps(5.1, 9.4, 0.1):
        segment.tick(now)
    assert segment.snapshot(9.4).master is None
    assert history(segment, 9.4, "no_master") == []
    segment.tick(9.6)
    (item,) = history(segment, 9.6, "no_master")
    assert (item.start, item.end) == (pytest.approx(5 + wait), None)
    send(segment, B, 90, [12.0])
    (item,) = history(segment, 12.0, "no_master")
    assert item.end == 12.0
    assert segment.snapshot(12.0).master == B


def test_a_backup_taking_over_in_time_is_not_no_master():
    segment = new_segment()
    send(segment, A, 100, steps(0, 5))
    takeover = 5 + master_down_interval(1.0, 1)  # even the lowest-priority backup
    for now in steps(5.1, takeover, 0.1):
        segment.tick(now)
    send(segment, B, 1, steps(takeover, takeover + 10))
    view = segment.snapshot(takeover + 10)
    assert view.anomaly_history == ()
    assert (view.master, view.master_changes) == (B, 1)


def test_graceful_release_lasts_until_a_master_advertises():
    segment = new_segment()
    send(segment, A, 100, steps(0, 5))
    send(segment, A, 0, [5.2])
    view = segment.snapshot(5.3)
    assert view.master is None and view.anomaly_names == ("graceful_release",)
    send(segment, B, 50, [5.6])
    (item,) = history(segment, 5.6, "graceful_release")
    assert (item.start, item.end, item.routers) == (5.2, 5.6, (A,))
    assert segment.snapshot(5.6).master == B


def test_flapping_above_the_threshold_within_the_window():
    segment = new_segment(flap_threshold=3, flap_window_seconds=60)
    send(segment, A, 100, [0.0])
    masters = [B, A, B, A]
    for index, now in enumerate([10.0, 20.0, 30.0, 40.0]):
        leaving = masters[index - 1] if index else A
        send(segment, leaving, 0, [now - 0.1])  # the old master releases, the other takes over
        send(segment, masters[index], 100, [now])
        if now < 40:
            assert history(segment, now, "flapping") == []
    (item,) = history(segment, 40.0, "flapping")
    assert (item.start, item.end) == (40.0, None)
    assert segment.snapshot(40.0).master_changes == 4
    for now in steps(40.5, 69.5, 0.5):
        send(segment, A, 100, [now])
    assert history(segment, 69.5, "flapping")[0].active
    send(segment, A, 100, [70.5])  # the change at 10 s left the window at 70 s
    (item,) = history(segment, 70.5, "flapping")
    assert (item.start, item.end) == (40.0, 70.0)


def test_interval_version_and_owner_mismatches():
    segment = new_segment()
    send(segment, A, 255, [0.0], interval_cs=100)
    send(segment, B, 255, [0.5], interval_cs=50)
    names = segment.snapshot(0.5).anomaly_names
    assert "interval_mismatch" in names and "duplicate_owner" in names
    assert "version_mismatch" not in names
    send(segment, C, 10, [1.0], version=2, password="x")
    assert "version_mismatch" in segment.snapshot(1.0).anomaly_names
    # Routers silent for longer than forget_after_seconds no longer count.
    send(segment, A, 255, steps(2, 70))
    names = segment.snapshot(70).anomaly_names
    assert "interval_mismatch" not in names and "duplicate_owner" not in names
    (item,) = history(segment, 70, "interval_mismatch")
    assert item.start == 0.5 and item.end is not None


def test_password_mismatch_is_reported_without_the_password():
    segment = new_segment()
    send(segment, A, 100, [0.0], version=2, password="secretA")
    send(segment, B, 90, [0.5], version=2, password="secretB")
    (item,) = history(segment, 0.5, "auth_mismatch")
    assert item.routers == (A, B) and "secret" not in item.detail


def test_vip_sets_overlapping_differ_disjoint_collide():
    segment = new_segment()
    send(segment, A, 100, [0.0], vips=("10.0.0.100", "10.0.0.101"))
    send(segment, B, 90, [0.5], vips=("10.0.0.100",))
    assert segment.snapshot(0.5).anomaly_names == ("vip_mismatch",)
    send(segment, C, 80, [1.0], vips=("10.0.0.200",))
    names = segment.snapshot(1.0).anomaly_names
    assert "vrid_collision" in names and "vip_mismatch" not in names


def test_bad_ttl_and_checksum_start_and_end_per_router():
    segment = new_segment()
    send(segment, A, 100, [0.0], ttl=64)
    assert segment.snapshot(0.5).anomaly_names == ("bad_ttl",)
    send(segment, A, 100, [1.0], corrupt=True)
    view = segment.snapshot(1.0)
    assert view.anomaly_names == ("bad_checksum",)
    assert view.routers[0].checksum_form is None and view.routers[0].ttl == 255
    send(segment, A, 100, [2.0])
    assert segment.snapshot(2.0).anomaly_names == ()
    ttl = history(segment, 2.0, "bad_ttl")[0]
    checksum = history(segment, 2.0, "bad_checksum")[0]
    assert (ttl.start, ttl.end, checksum.start, checksum.end) == (0.0, 1.0, 1.0, 2.0)


def test_observer_keeps_one_segment_per_interface_family_and_vrid():
    observer = Observer(["eth0", "eth1"], clock=lambda: 3.0)
    observer.feed("eth0", advert(A, 100, vrid=1), 1.0)
    observer.feed("eth0", advert(A, 100, vrid=2), 1.0)
    observer.feed("eth1", advert(A, 100, vrid=1), 2.0)
    snapshot = observer.snapshot()
    keys = [view.key for view in snapshot.segments]
    assert keys == [("eth0", "inet", 1), ("eth0", "inet", 2), ("eth1", "inet", 1)]
    assert observer.longest_interval_seconds == 1.0


def test_renderings_fit_80_columns():
    observer = Observer(["a-long-interface-name"], clock=lambda: 10.0)
    six = "fe80::1234:5678:9abc:def0"
    packet = codec.encode_advert(vrid=200, priority=100, addresses=["fd00:1234:5678::100"] * 3,
                                 source=six)  # fmt: skip
    v6 = codec.decode_ipv6_payload(packet, six, codec.VRRP_GROUP6, 255)
    observer.feed("a-long-interface-name", v6, 9.0)
    observer.feed("a-long-interface-name", advert(A, 0), 9.5)
    snapshot = observer.snapshot()
    table = render_watch(snapshot)
    assert all(len(line) <= WIDTH for line in table.splitlines())
    assert six[:20] in table and "graceful_release" in table
    text = render_status(snapshot)
    assert "master none" in text and six in text


def test_forged_sources_cannot_grow_the_router_table_without_bound():
    segment = new_segment(max_routers=4)
    for index in range(10):
        send(segment, f"10.0.1.{index + 1}", 100, [float(index)])
    addresses = [router.address for router in segment.snapshot(10).routers]
    assert addresses == ["10.0.1.7", "10.0.1.8", "10.0.1.9", "10.0.1.10"]


def test_outgoing_ipv6_packets_are_split_at_the_fixed_header():
    source, destination = "fe80::1", codec.VRRP_GROUP6
    message = codec.encode_advert(vrid=9, priority=100, addresses=["fd00::9"], source=source)
    header = (
        bytes([0x60, 0, 0, 0])
        + len(message).to_bytes(2, "big")
        + bytes([codec.IPPROTO_VRRP, 255])
        + socket.inet_pton(socket.AF_INET6, source)
        + socket.inet_pton(socket.AF_INET6, destination)
    )
    payload, src, dst, hops = sockets.split_ipv6_packet(header + message + b"pad")
    advert = codec.decode_ipv6_payload(payload, src, dst, hops)
    assert (advert.source, advert.vrid, advert.checksum_form) == (source, 9, "rfc5798")
    for broken in (header[:39], b"\x40" + header[1:] + message, header + message[:-1]):
        with pytest.raises(codec.VrrpDecodeError):
            sockets.split_ipv6_packet(broken)
