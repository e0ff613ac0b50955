"""The SQLite store: idempotent writes, closes, lost ends, who/log queries, pruning."""

import dataclasses
import sqlite3

import pytest

from lvsmon.errors import SnatStoreUnavailable
from lvsmon.model import SnatConnection
from lvsmon.snat.store_sqlite import Loss, SqliteStore

S = 1_000_000_000
T0 = 1_800_000_000 * S


def conn(ct_id=1, inside_port=51000, translated_port=40001, start=T0, end=None, **more):
    fields = dict(protocol="tcp", family="inet", inside_address="192.168.1.20",
                  inside_port=inside_port, translated_address="10.0.0.5",
                  translated_port=translated_port, start_ns=start, end_ns=end,
                  original_destination_address="10.0.0.100", original_destination_port=80,
                  real_destination_address="10.0.1.12", real_destination_port=8080,
                  conntrack_id=ct_id, node="lb1", start_exact=True)
    fields.update(more)
    return SnatConnection(**fields)


@pytest.fixture
def store(tmp_path):
    db = SqliteStore(tmp_path / "snat.sqlite")
    yield db
    db.close()


def rows(store):
    return store.db.execute("SELECT count(*) FROM connection").fetchone()[0]


def test_open_then_close_is_one_record(store):
    store.write([conn()], [])
    store.write([], [conn(end=T0 + 5 * S, packets_out=3, bytes_out=180)])
    [record] = store.log()
    assert record.end_ns == T0 + 5 * S and record.bytes_out == 180 and not record.end_lost


def test_opens_written_twice_are_one_record(store):
    """A re-dump or a restart sees open connections again: nothing is duplicated."""
    store.write([conn()], [])
    store.write([conn(start=T0 + 3, start_exact=False)], [])  # same entry, seen again
    store.write([conn()], [])
    assert rows(store) == 1


def test_close_without_open_makes_a_whole_record(store):
    store.write([], [conn(end=T0 + S)])
    store.write([], [conn(end=T0 + S)])  # the same DESTROY again (identity: id + start)
    [record] = store.log()
    assert record.end_ns == T0 + S


def test_close_takes_the_kernels_start_over_an_approximate_one(store):
    store.write([conn(start=T0 + 2000, start_exact=False)], [])
    store.write([], [conn(start=T0, end=T0 + S)])
    [record] = store.log()
    assert record.start_ns == T0 and record.start_exact


def test_reused_conntrack_id_is_a_new_record_after_the_first_ended(store):
    store.write([conn()], [])
    store.write([], [conn(end=T0 + S)])
    store.write([conn(start=T0 + 10 * S)], [])
    store.write([], [conn(start=T0 + 10 * S, end=T0 + 11 * S)])
    assert [(r.start_ns, r.end_ns) for r in store.log()] == [
        (T0, T0 + S), (T0 + 10 * S, T0 + 11 * S)]


def test_lost_end_then_late_destroy(store):
    store.write([conn()], [])
    [(row_id, *_key)] = store.open_keys("lb1", T0 + 60 * S)
    store.close_lost([row_id], T0 + 60 * S, "lb1")
    [record] = store.log()
    assert record.end_lost and record.end_ns == T0 + 60 * S
    assert [x.kind for x in store.losses()] == ["end_unknown"]
    store.write([], [conn(end=T0 + 7 * S)])  # a reliable-delivery DESTROY, late
    [record] = store.log()
    assert not record.end_lost and record.end_ns == T0 + 7 * S


def test_who_finds_the_connection_in_use_at_a_time(store):
    store.write([conn(ct_id=1, start=T0, end=T0 + 10 * S)], [])
    store.write([conn(ct_id=2, inside_port=52000, start=T0 + 20 * S, end=T0 + 30 * S)], [])
    store.write([conn(ct_id=3, inside_port=53000, translated_port=40002, start=T0)], [])
    assert [r.conntrack_id for r in store.who("10.0.0.5", 40001, T0 + 5 * S)] == [1]
    assert [r.conntrack_id for r in store.who("10.0.0.5", 40001, T0 + 25 * S)] == [2]
    assert store.who("10.0.0.5", 40001, T0 + 15 * S) == []
    assert [r.conntrack_id for r in store.who("10.0.0.5", 40001, T0 + 15 * S,
                                              slack_ns=6 * S)] == [1, 2]
    assert [r.conntrack_id for r in store.who("10.0.0.5", 40002, T0 + 999 * S)] == [3]  # open
    assert store.who("10.0.0.5", 40001, T0 + 5 * S, destination=("10.0.1.13", None)) == []
    assert len(store.who("10.0.0.5", 40001, T0 + 5 * S,
                         destination=("10.0.1.12", 8080))) == 1
    assert store.who("10.0.0.5", 40001, T0 + 5 * S, destination=("10.0.1.12", 81)) == []


def test_who_by_protocol_tells_tcp_and_udp_on_one_port_apart(store):
    store.write([conn(ct_id=1, start=T0), conn(ct_id=2, inside_port=52000, start=T0,
                                               protocol="udp")], [])
    assert [r.conntrack_id for r in store.who("10.0.0.5", 40001, T0 + S)] == [1, 2]
    assert [r.conntrack_id for r in store.who("10.0.0.5", 40001, T0 + S, protocol="udp")] == [2]
    assert [r.conntrack_id for r in store.who("10.0.0.5", 40001, T0 + S, protocol="tcp")] == [1]
    assert store.who("10.0.0.5", 40001, T0 + S, protocol="sctp") == []


def test_log_selects_by_inside_and_overlap(store):
    store.write([conn(ct_id=1, start=T0, end=T0 + 10 * S),
                 conn(ct_id=2, inside_port=52000, start=T0 + 20 * S, end=T0 + 30 * S),
                 conn(ct_id=3, inside_address="192.168.1.21", start=T0 + 5 * S)], [])
    assert len(store.log()) == 3
    assert [r.conntrack_id for r in store.log(inside="192.168.1.21")] == [3]
    assert [r.conntrack_id for r in store.log(since_ns=T0 + 15 * S)] == [3, 2]  # by start
    assert [r.conntrack_id for r in store.log(until_ns=T0 + 6 * S)] == [1, 3]
    assert [r.conntrack_id for r in store.log(limit=1)] == [1]


def test_prune_removes_old_closed_records_and_losses(store):
    store.write([conn(ct_id=1, start=T0, end=T0 + S), conn(ct_id=2, start=T0)], [],
                [Loss(T0, "lb1", "events_dropped", 5, "test")])
    assert store.prune(T0 + 100 * S) == 1
    assert [r.conntrack_id for r in store.log()] == [2]  # open connections stay
    assert store.losses() == []


def test_summary(store):
    store.write([conn(ct_id=1, start=T0, end=T0 + S), conn(ct_id=2, start=T0 + 9)], [],
                [Loss(T0, "lb1", "events_dropped", 5), Loss(T0, "lb1", "events_dropped", 2)])
    summary = store.summary()
    assert (summary.records, summary.open_records) == (2, 1)
    assert summary.oldest_start_ns == T0 and summary.lost_by_kind == {"events_dropped": 7}


def test_schema_is_wal_with_query_indexes(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = " ".join(str(row) for row in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM connection WHERE translated_address = ? AND "
        "translated_port = ? AND start_ns <= ?", ("10.0.0.5", 1, 2)))
    assert "connection_translated" in plan


def test_readonly_store_must_exist(tmp_path):
    with pytest.raises(SnatStoreUnavailable, match="no SNAT store"):
        SqliteStore(tmp_path / "missing.sqlite", readonly=True)


def test_unwritable_store_is_a_store_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SnatStoreUnavailable):
        SqliteStore(tmp_path / "file" / "snat.sqlite")


def test_failed_batch_leaves_nothing(store):
    bad = dataclasses.replace(conn(ct_id=9), protocol=None)  # NOT NULL violated mid-batch
    with pytest.raises(SnatStoreUnavailable):
        store.write([conn(ct_id=8), bad], [])
    assert rows(store) == 0
    assert not store.db.in_transaction
    store.write([conn(ct_id=8)], [])
    assert rows(store) == 1


def test_integrity(store):
    store.write([conn(ct_id=n, inside_port=n) for n in range(1, 500)], [])
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert isinstance(store.db, sqlite3.Connection)
