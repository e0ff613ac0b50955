"""The default SNAT store: one SQLite file in WAL mode.

Crash safety comes from SQLite: each batch is one transaction, so `kill -9` leaves whole
batches or nothing. Duplicates are impossible by construction: at most one open row per live
conntrack entry (unique index on its identity while end_ns IS NULL), and a conntrack id with
its start time names one row for ever; re-dumps and restarts only insert what is not there.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lvsmon.errors import SnatStoreUnavailable
from lvsmon.model import SnatConnection
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.snat import StoreSummary

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS connection (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    zone INTEGER NOT NULL,
    conntrack_id INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    family TEXT NOT NULL,
    inside_address TEXT NOT NULL,
    inside_port INTEGER,
    translated_address TEXT NOT NULL,
    translated_port INTEGER,
    original_destination_address TEXT,
    original_destination_port INTEGER,
    real_destination_address TEXT,
    real_destination_port INTEGER,
    start_ns INTEGER NOT NULL,
    start_exact INTEGER NOT NULL,      -- 1: kernel timestamp; 0: when lvsmon saw the event
    end_ns INTEGER,                    -- NULL while open
    end_lost INTEGER NOT NULL DEFAULT 0, -- 1: the DESTROY event was lost; end_ns is an upper bound
    mark INTEGER NOT NULL,
    packets_out INTEGER, bytes_out INTEGER, packets_in INTEGER, bytes_in INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS connection_open
    ON connection (node, zone, conntrack_id, protocol, inside_address, inside_port)
    WHERE end_ns IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS connection_identity
    ON connection (node, zone, conntrack_id, start_ns);
CREATE INDEX IF NOT EXISTS connection_translated
    ON connection (translated_address, translated_port, start_ns);
CREATE INDEX IF NOT EXISTS connection_inside ON connection (inside_address, start_ns);
CREATE INDEX IF NOT EXISTS connection_start ON connection (start_ns);
CREATE INDEX IF NOT EXISTS connection_end ON connection (end_ns);
CREATE TABLE IF NOT EXISTS loss (
    id INTEGER PRIMARY KEY,
    at_ns INTEGER NOT NULL,
    node TEXT NOT NULL,
    kind TEXT NOT NULL,   -- events_dropped, enobufs, end_unknown, store_dropped
    count INTEGER NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS loss_at ON loss (at_ns);
"""

COLUMNS = (
    "node", "zone", "conntrack_id", "protocol", "family", "inside_address", "inside_port",
    "translated_address", "translated_port", "original_destination_address",
    "original_destination_port", "real_destination_address", "real_destination_port",
    "start_ns", "start_exact", "end_ns", "mark", "packets_out", "bytes_out", "packets_in",
    "bytes_in",
)
# Only constant column names are formatted into SQL here; values always go as parameters.
_INSERT = "INSERT INTO connection ({}) VALUES ({}) ON CONFLICT DO NOTHING".format(  # noqa: S608
    ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS)))
_READ_COLUMNS = (*COLUMNS, "end_lost")
# A DESTROY closes the open row, or one closed earlier as "end lost" (a late reliable DESTROY).
_CLOSE = """
UPDATE connection SET end_ns = ?, end_lost = 0, packets_out = ?, bytes_out = ?, packets_in = ?,
    bytes_in = ?, start_ns = CASE WHEN ? THEN ? ELSE start_ns END,
    start_exact = MAX(start_exact, ?)
WHERE id = (SELECT id FROM connection WHERE node = ? AND zone = ? AND conntrack_id = ?
            AND protocol = ? AND inside_address = ? AND inside_port IS ?
            AND (end_ns IS NULL OR end_lost = 1) ORDER BY start_ns DESC LIMIT 1)
"""


def _row(record: SnatConnection) -> tuple:
    return tuple(int(v) if isinstance(v, bool) else v
                 for v in (getattr(record, name) for name in COLUMNS))


@dataclass(frozen=True, slots=True)
class Loss:
    at_ns: int
    node: str
    kind: str
    count: int
    detail: str | None = None


class SqliteStore:
    """Writes and reads SNAT records. One writer process; readers may come and go."""

    name = "sqlite"

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False,
                 busy_timeout_seconds: float = 5.0):
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.exists():
                    raise SnatStoreUnavailable(f"no SNAT store at {self.path}",
                                               "start `lvsmon snat run` or pass --store")
                uri = f"file:{self.path}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, timeout=busy_timeout_seconds,
                                          isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
                self.db = sqlite3.connect(self.path, timeout=busy_timeout_seconds,
                                          isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL: a power cut may lose the last batches, never tear one.
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                (str(SCHEMA_VERSION),))
                os.chmod(self.path, 0o640)
        except (sqlite3.Error, OSError) as exc:
            raise SnatStoreUnavailable(f"cannot open the SNAT store {self.path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def reopen(self) -> None:
        pass  # SIGHUP: a database is not rotated under us

    # -- writing ---------------------------------------------------------------

    def write(self, opens: Iterable[SnatConnection], closes: Iterable[SnatConnection],
              losses: Iterable[Loss] = ()) -> None:
        """One transaction: new open rows, closes (or complete rows if never opened), losses."""
        try:
            cur = self.db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany(_INSERT, [_row(r) for r in opens])
                for record in closes:
                    self._close(cur, record)
                cur.executemany("INSERT INTO loss (at_ns, node, kind, count, detail) "
                                "VALUES (?, ?, ?, ?, ?)",
                                [(x.at_ns, x.node, x.kind, x.count, x.detail) for x in losses])
                cur.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise SnatStoreUnavailable(f"writing the SNAT store {self.path} failed: {exc}",
                                       "check free space and permissions") from exc

    @staticmethod
    def _close(cur: sqlite3.Cursor, r: SnatConnection) -> None:
        cur.execute(_CLOSE, (r.end_ns, r.packets_out, r.bytes_out, r.packets_in, r.bytes_in,
                             int(r.start_exact), r.start_ns, int(r.start_exact), r.node, r.zone,
                             r.conntrack_id, r.protocol, r.inside_address, r.inside_port))
        if cur.rowcount == 0:  # its NEW was missed (or came before we started): a whole row
            cur.execute(_INSERT, _row(r))

    def open_keys(self, node: str, started_before_ns: int) -> list[tuple]:
        """(row id, zone, conntrack id, protocol, inside address, inside port) of open rows."""
        return self.db.execute(
            "SELECT id, zone, conntrack_id, protocol, inside_address, inside_port "
            "FROM connection WHERE end_ns IS NULL AND node = ? AND start_ns < ?",
            (node, started_before_ns)).fetchall()

    def close_lost(self, row_ids: list[int], at_ns: int, node: str) -> None:
        """Close rows whose conntrack entry is gone with its DESTROY event unseen."""
        if not row_ids:
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("UPDATE connection SET end_ns = ?, end_lost = 1 WHERE id = ? "
                                "AND end_ns IS NULL", [(at_ns, i) for i in row_ids])
            self.db.execute("INSERT INTO loss (at_ns, node, kind, count, detail) "
                            "VALUES (?, ?, 'end_unknown', ?, ?)",
                            (at_ns, node, len(row_ids),
                             "connections ended while their DESTROY event was lost"))
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise SnatStoreUnavailable(f"writing the SNAT store {self.path} failed: {exc}") from exc

    def reconcile(self, seen: set, dump_started_ns: int, node: str) -> int:
        """After a dump: close this node's open records that began before it and that it did
        not have (their DESTROY was lost). `seen` holds record.connection_key() tuples."""
        lost = [row[0] for row in self.open_keys(node, dump_started_ns)
                if tuple(row[1:]) not in seen]
        self.close_lost(lost, dump_started_ns, node)
        return len(lost)

    def prune(self, older_than_ns: int) -> int:
        """Delete closed records that ended, and losses noted, before `older_than_ns`."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            gone = self.db.execute("DELETE FROM connection WHERE end_ns < ?",
                                   (older_than_ns,)).rowcount
            self.db.execute("DELETE FROM loss WHERE at_ns < ?", (older_than_ns,))
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise SnatStoreUnavailable(f"pruning the SNAT store {self.path} failed: {exc}") from exc
        return gone

    # -- reading ---------------------------------------------------------------

    def _records(self, where: str, args: tuple, limit: int | None = None
                 ) -> list[SnatConnection]:
        sql = (f"SELECT {', '.join(_READ_COLUMNS)} FROM connection "  # noqa: S608
               f"WHERE {where} ORDER BY start_ns, id")  # `where` is built from constants
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            rows = self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise SnatStoreUnavailable(f"reading the SNAT store {self.path} failed: {exc}") from exc
        records = []
        for row in rows:
            fields = dict(zip(_READ_COLUMNS, row, strict=True))
            fields["start_exact"] = bool(fields["start_exact"])
            fields["end_lost"] = bool(fields["end_lost"])
            records.append(SnatConnection(**fields))
        return records

    def who(self, address: str, port: int | None, at_ns: int, slack_ns: int = 0,
            destination: tuple[str, int | None] | None = None,
            protocol: str | None = None) -> list[SnatConnection]:
        """Records whose translated address and port were in use at `at_ns` (+- slack)."""
        where = ("translated_address = ? AND translated_port IS ? AND start_ns <= ? "
                 "AND (end_ns IS NULL OR end_ns >= ?)")
        args: tuple = (address, port, at_ns + slack_ns, at_ns - slack_ns)
        if protocol is not None:
            where += " AND protocol = ?"
            args += (protocol,)
        if destination is not None:
            where += " AND real_destination_address = ?"
            args += (destination[0],)
            if destination[1] is not None:
                where += " AND real_destination_port = ?"
                args += (destination[1],)
        return self._records(where, args)

    def log(self, inside: str | None = None, since_ns: int | None = None,
            until_ns: int | None = None, limit: int | None = None) -> list[SnatConnection]:
        """Records that overlap [since, until], optionally of one inside address."""
        clauses, args = ["1"], []
        if inside is not None:
            clauses.append("inside_address = ?")
            args.append(inside)
        if since_ns is not None:
            clauses.append("(end_ns IS NULL OR end_ns >= ?)")
            args.append(since_ns)
        if until_ns is not None:
            clauses.append("start_ns <= ?")
            args.append(until_ns)
        return self._records(" AND ".join(clauses), tuple(args), limit)

    def losses(self, since_ns: int | None = None) -> list[Loss]:
        rows = self.db.execute("SELECT at_ns, node, kind, count, detail FROM loss "
                               "WHERE at_ns >= ? ORDER BY at_ns", (since_ns or 0,)).fetchall()
        return [Loss(*row) for row in rows]

    def summary(self) -> StoreSummary:
        try:
            records, open_records, oldest, newest = self.db.execute(
                "SELECT count(*), count(*) - count(end_ns), min(start_ns), max(start_ns) "
                "FROM connection").fetchone()
            lost = dict(self.db.execute("SELECT kind, sum(count) FROM loss GROUP BY kind"))
        except sqlite3.Error as exc:
            raise SnatStoreUnavailable(f"reading the SNAT store {self.path} failed: {exc}") from exc
        return StoreSummary(records, open_records, oldest, newest, FrozenDict(lost))


def now_ns() -> int:
    return time.time_ns()
