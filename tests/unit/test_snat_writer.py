"""The writer thread with real sinks: retry after a failure, bounded memory, reconcile."""

import time

from lvsmon.model import SnatConnection
from lvsmon.snat.record import connection_key
from lvsmon.snat.store_sqlite import SqliteStore
from lvsmon.snat.writer import Batch, SinkSlot, Writer

S = 1_000_000_000
T0 = 1_800_000_000 * S


def conn(ct_id, start=T0):
    return SnatConnection(protocol="udp", family="inet", inside_address="192.168.1.20",
                          inside_port=1000 + ct_id, translated_address="10.0.0.5",
                          translated_port=40000 + ct_id, start_ns=start, conntrack_id=ct_id,
                          node="lb1", start_exact=True)


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def writer_for(path, **kwargs):
    slot = SinkSlot("sqlite", lambda: SqliteStore(path))
    writer = Writer([slot], node="lb1", max_pending_records=kwargs.get("max_pending", 1000),
                    retention_seconds=0)
    writer.start()
    return writer, slot


def stored(path):
    store = SqliteStore(path, readonly=True)
    try:
        return store.log(), store.losses()
    finally:
        store.close()


def test_unwritable_store_is_retried_until_it_works(tmp_path):
    blocker = tmp_path / "db"
    blocker.write_text("a file where the directory should be")
    writer, slot = writer_for(blocker / "snat.sqlite")
    writer.submit(Batch([conn(1)]))
    assert wait_until(lambda: slot.error is not None)
    assert slot.pending_records() == 1  # held, not lost
    blocker.unlink()
    assert wait_until(lambda: slot.error is None and not slot.pending, timeout=15)
    writer.stop()
    records, losses = stored(blocker / "snat.sqlite")
    assert [r.conntrack_id for r in records] == [1] and losses == []


def test_memory_bound_drops_and_records_the_drop(tmp_path):
    blocker = tmp_path / "db"
    blocker.write_text("x")
    writer, slot = writer_for(blocker / "snat.sqlite", max_pending=2)
    for ct_id in range(1, 6):
        writer.submit(Batch([conn(ct_id)]))
    assert writer.dropped_records == 3  # the first batch stays (it may be being written)
    blocker.unlink()
    assert wait_until(lambda: not slot.pending, timeout=15)
    writer.stop()
    records, losses = stored(blocker / "snat.sqlite")
    assert [r.conntrack_id for r in records] == [1, 5]
    assert {x.kind for x in losses} == {"store_dropped"}
    assert sum(x.count for x in losses) == 3  # no loss record was itself dropped


def test_reconcile_closes_what_the_dump_did_not_have(tmp_path):
    path = tmp_path / "snat.sqlite"
    writer, slot = writer_for(path)
    writer.submit(Batch([conn(1), conn(2)]))
    writer.submit(Batch(reconcile=({connection_key(conn(2))}, T0 + 5 * S)))
    assert wait_until(lambda: not slot.pending)
    writer.stop()
    assert writer.ended_unseen == 1
    records, losses = stored(path)
    ended = {r.conntrack_id: (r.end_ns, r.end_lost) for r in records}
    assert ended == {1: (T0 + 5 * S, True), 2: (None, False)}
    assert [(x.kind, x.count) for x in losses] == [("end_unknown", 1)]


def test_reused_conntrack_id_in_one_batch_keeps_both_connections(tmp_path):
    """NEW, DESTROY, NEW of the same id and tuples before a flush: two records, in order."""
    from lvsmon.snat.config import SnatConfig
    from lvsmon.snat.ctnetlink import CtMessage, Tuple
    from lvsmon.snat.service import SnatService

    path = tmp_path / "snat.sqlite"
    service = SnatService(SnatConfig(store=str(path), status_file=str(tmp_path / "st.json"),
                                     node="lb1"))
    service.writer.start()
    orig = Tuple(6, "192.168.1.20", "10.0.1.12", 51000, 80)
    reply = Tuple(6, "10.0.1.12", "10.0.0.5", 80, 40001)
    new = CtMessage("new", 2, orig, reply, conntrack_id=77)
    destroy = new._replace(kind="destroy", start_ns=T0, stop_ns=T0 + S)
    service.handle(new, T0 + 10)
    service.handle(destroy, T0 + 2 * S)
    service.handle(new, T0 + 3 * S)
    service.flush()
    service.writer.stop()
    records, _ = stored(path)
    assert [(r.start_ns, r.end_ns) for r in records] == [(T0, T0 + S), (T0 + 3 * S, None)]
