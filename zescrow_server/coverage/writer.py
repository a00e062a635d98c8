"""The reports' writes, committed together: one transaction for the reports that
arrive while the previous one goes to disk (as escrows/writer.py does for uploads).

A report's checks (signature, format, the escrows it names) run in its
request's thread, in parallel; only its write comes here. On SQLite every
process's writer takes its turn through the same flock as the upload writer
(writer.lock), which wakes the next one as soon as the lock is free, instead
of SQLite's busy handler, whose sleeps of up to 100 ms made p99 one second
at 8 concurrent reports (docs/BENCHMARKS.md).

Each write is conditional: the host's last report time moves only forward
and only for an unrevoked host, in the same transaction as its rows, so two
reports of one host racing (or a replay racing its original) cannot both
land, and a host revoked meanwhile writes nothing. Only the users whose
row changed are rewritten: a day's report of a machine where nothing
changed writes the host's row and nothing else.

A report is not an escrow: it is sent again the next day, and the host
learns nothing from it that it cannot ask again. So its commit does not
wait for the disk (SQLite `synchronous=NORMAL` on the writer's own
connection, PostgreSQL `synchronous_commit = off` in its transaction): a
power cut may lose the last second of reports, never corrupt anything, and
never an escrow (S8: the upload writer's commits still wait).
"""

import datetime as dt
import logging
import queue
import threading
from concurrent.futures import Future

from ..escrows.writer import turn

log = logging.getLogger("zescrow.server.coverage")
MAX_BATCH = 256


# Plain SQL through the driver: the writer is the one place all processes take turns
# at, and SQLAlchemy's ~0.1 ms a statement, four statements a report, was most of the
# time each report held that turn (docs/BENCHMARKS.md).
MOVE = ("UPDATE hosts SET last_report_at = ?, last_report_time = ? WHERE id = ? AND "
        "revoked_at IS NULL AND (last_report_time IS NULL OR last_report_time < ?)")
FIELDS = ("username", "digest", "escrowed_digest", "escrow_id", "client_error",
          "client_error_at", "state", "reason")
KNOWN = "SELECT %s FROM coverage WHERE host_id = ?" % ", ".join(FIELDS)
FORGET = "DELETE FROM coverage WHERE host_id = ? AND username = ?"
INSERT = "INSERT INTO coverage (host_id, %s) VALUES (?, %s)" % (
    ", ".join(FIELDS), ", ".join("?" * len(FIELDS)))


UPDATE = ("UPDATE coverage SET digest = ?, escrowed_digest = ?, client_error = ?, "
          "client_error_at = ?, state = ?, reason = ? WHERE host_id = ? AND username = ?")


def _changes(db, host_id, new_rows):
    """(the rows to insert, the rows to update, the users whose row goes). A changed row
    that names the same escrow is updated in place (its escrow index entry and its
    place in the table stay), any other is replaced; users no longer reported go."""
    known = {}
    for r in db.run(KNOWN, (host_id,)).fetchall():
        known[r[0]] = tuple(r[:5]) + (db.read_time(r[5]),) + tuple(r[6:])
    inserts, updates, gone = [], [], []
    for row in new_rows:
        old = known.get(row["username"])
        if old == tuple(row[f] for f in FIELDS):
            continue
        if old is not None and old[3] == row["escrow_id"]:
            updates.append(row)
            continue
        if old is not None:
            gone.append(row["username"])
        inserts.append(row)
    reported = {row["username"] for row in new_rows}
    gone += [user for user in known if user not in reported]
    return inserts, updates, gone


class Driver:
    """The writer's own driver connection: sqlite3 (its commits not waiting for the
    disk: synchronous=NORMAL) or psycopg (synchronous_commit off)."""

    def __init__(self, engine):
        url = engine.url
        self.sqlite = url.get_backend_name() == "sqlite"
        if self.sqlite:
            import sqlite3

            self.dbapi = sqlite3.connect(url.database, timeout=30, isolation_level=None,
                                         check_same_thread=False)
            self.dbapi.execute("PRAGMA synchronous=NORMAL")
        else:
            from .readout import connect

            self.dbapi = connect(url.render_as_string(hide_password=False)).dbapi
            cur = self.dbapi.cursor()
            cur.execute("SET synchronous_commit TO OFF")
            cur.close()
            self.dbapi.commit()
        self.cur = self.dbapi.cursor()

    def run(self, sql, args=()):
        self.cur.execute(sql if self.sqlite else sql.replace("?", "%s"), args)
        return self.cur

    def many(self, sql, rows):
        self.cur.executemany(sql if self.sqlite else sql.replace("?", "%s"), rows)

    def begin(self):
        if self.sqlite:  # autocommit otherwise (isolation_level=None); the lock at once
            self.cur.execute("BEGIN IMMEDIATE")

    def commit(self):
        if self.sqlite:
            self.cur.execute("COMMIT")
        else:
            self.dbapi.commit()

    def rollback(self):
        try:
            if self.sqlite:
                self.cur.execute("ROLLBACK")
            else:
                self.dbapi.rollback()
        except Exception:  # noqa: BLE001 — nothing was begun, or the connection is gone
            pass

    def time(self, value):
        """A datetime as SQLAlchemy keeps it: text on SQLite."""
        if value is None or not self.sqlite:
            return value
        return value.isoformat(" ", "microseconds")  # four-digit years, as SQLAlchemy writes

    def read_time(self, value):
        if value is None or isinstance(value, dt.datetime):
            return value
        return dt.datetime.fromisoformat(value)

    def close(self):
        try:
            self.dbapi.close()
        except Exception:  # noqa: BLE001 — gone already
            pass


class Stale(Exception):
    """The host reported something newer meanwhile, or was revoked."""


class ReportWriter:
    def __init__(self, engine, lock_path=None):
        self.engine = engine
        self.lock_fd = open(lock_path, "a") if lock_path else None
        self.db = None  # the writer's own Driver (not the pool's: its sync setting is its own)
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="zescrow-reports", daemon=True)
        self.thread.start()

    def submit(self, host_id, report_time, now, rows):
        """Queue one report's write; the Future resolves when it is committed, or fails
        with Stale."""
        done = Future()
        self.queue.put((host_id, report_time, now, rows, done))
        return done

    def _run(self):
        while True:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._store(batch)

    def _store(self, batch):
        try:
            outcomes = self._commit(batch)
        except Exception as err:  # noqa: BLE001 — heard by its requests, not the others
            if len(batch) == 1:
                log.exception("could not store a coverage report")
                outcomes = [err]
            else:  # one bad report must not fail its neighbours: each alone
                for item in batch:
                    self._store([item])
                return
        for item, outcome in zip(batch, outcomes):
            if outcome is None:
                item[-1].set_result(True)
            else:
                item[-1].set_exception(outcome)

    def _commit(self, batch):
        """Store each report of the batch, in one transaction; each one's outcome (None, or
        Stale). Hosts in order (two processes' writers on PostgreSQL lock host rows in
        the same order, so they cannot deadlock), and each report's rows written before
        the next is read (two reports of one host in a batch)."""
        outcomes = [None] * len(batch)
        order = sorted(range(len(batch)), key=lambda i: (batch[i][0], batch[i][1]))
        with self._turn():
            db = self.db = self.db or Driver(self.engine)
            try:
                db.begin()
                for i in order:
                    host_id, report_time, now, host_rows, _ = batch[i]
                    moved = db.run(MOVE, (db.time(now), db.time(report_time), host_id,
                                          db.time(report_time))).rowcount
                    if moved != 1:
                        outcomes[i] = Stale()
                        continue
                    inserts, updates, gone = _changes(db, host_id, host_rows)
                    if gone:
                        db.many(FORGET, [(host_id, user) for user in gone])
                    if updates:
                        db.many(UPDATE, [(row["digest"], row["escrowed_digest"],
                                          row["client_error"], db.time(row["client_error_at"]),
                                          row["state"], row["reason"], host_id,
                                          row["username"]) for row in updates])
                    if inserts:
                        db.many(INSERT, [(host_id,) + tuple(
                            db.time(row[f]) if f == "client_error_at" else row[f]
                            for f in FIELDS) for row in inserts])
                db.commit()
            except Exception:
                db.rollback()
                db.close()
                self.db = None  # a broken connection is not used again
                raise
        return outcomes

    def _turn(self):
        return turn(self.lock_fd)
