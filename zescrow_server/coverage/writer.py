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

import contextlib
import fcntl
import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy import bindparam, delete, insert, or_, select, update

from ..hosts.models import Host
from .models import Coverage

log = logging.getLogger("zescrow.server.coverage")
MAX_BATCH = 256


# Built once (building a statement costs more than running it).
MOVE = update(Host).where(
    Host.id == bindparam("host"), Host.revoked_at.is_(None),
    or_(Host.last_report_time.is_(None), Host.last_report_time < bindparam("time"))).values(
    last_report_at=bindparam("now"), last_report_time=bindparam("time"))
FORGET = delete(Coverage).where(Coverage.host_id == bindparam("host"),
                                Coverage.username == bindparam("user"))
KNOWN = select(Coverage.username, Coverage.digest, Coverage.escrowed_digest,
               Coverage.escrow_id, Coverage.client_error, Coverage.client_error_at,
               Coverage.state, Coverage.reason).where(Coverage.host_id == bindparam("host"))
FIELDS = ("username", "digest", "escrowed_digest", "escrow_id", "client_error",
          "client_error_at", "state", "reason")


def _changes(conn, host_id, new_rows):
    """(the rows to insert, the users whose old row goes): the new and changed ones,
    and the changed and no longer reported ones."""
    known = {r.username: tuple(r) for r in conn.execute(KNOWN, {"host": host_id})}
    changed = [row for row in new_rows
               if known.get(row["username"]) != tuple(row[f] for f in FIELDS)]
    reported = {row["username"] for row in new_rows}
    stale = [user for user in known if user not in reported] + \
        [row["username"] for row in changed if row["username"] in known]
    return changed, stale


class Stale(Exception):
    """The host reported something newer meanwhile, or was revoked."""


class ReportWriter:
    def __init__(self, engine, lock_path=None):
        self.engine = engine
        self.lock_fd = open(lock_path, "a") if lock_path else None
        self.conn = None  # the writer's own (not the pool's: its sync setting is its own)
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
            conn = self._connection()
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                    for i in order:
                        host_id, report_time, now, host_rows, _ = batch[i]
                        moved = conn.execute(MOVE, {"host": host_id, "time": report_time,
                                                    "now": now}).rowcount
                        if moved != 1:
                            outcomes[i] = Stale()
                            continue
                        changed, stale = _changes(conn, host_id, host_rows)
                        if stale:
                            conn.execute(FORGET, [{"host": host_id, "user": u} for u in stale])
                        if changed:
                            conn.execute(insert(Coverage), changed)
            except Exception:
                self._drop_connection()  # a broken connection is not used again
                raise
        return outcomes

    def _connection(self):
        if self.conn is None:
            self.conn = self.engine.connect()
            if self.engine.dialect.name == "sqlite":
                self.conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                self.conn.commit()
        return self.conn

    def _drop_connection(self):
        try:
            self.conn.invalidate()
        except Exception:  # noqa: BLE001 — gone already
            pass
        self.conn = None

    @contextlib.contextmanager
    def _turn(self):
        if self.lock_fd is None:
            yield
            return
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
