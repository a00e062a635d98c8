"""Group commit: uploads that arrive together are committed together.

Each server process has one writer thread. A request hands it the rows of
its upload and waits; the writer takes everything that queued up while
the previous commit was on its way to disk, inserts it in one transaction
and commits — one fsync for many uploads — then wakes every waiting
request. A 201 still goes out only after its row is committed (S8); what
changes is that 30 concurrent uploads cost one disk flush, not 30, and
SQLite's file lock is taken by one thread per process, not by each
request (its busy-wait sleeps were what made p99 latency spike). Each
commit also takes from the uploaders' rate buckets, and the database's
triggers refuse a row over the caps on unclaimed escrows
(quotas/service.py); on PostgreSQL they spend from room under the caps
lent to this process instead, while the caps are far off (quotas/leases.py),
so that no commit holds a lock that all of them need through its WAL flush.
"""

import contextlib
import fcntl
import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from ..audit.models import AuditEvent
from ..errors import StorageFull
from ..quotas.leases import Lease
from ..quotas.service import bucket_key
from .models import Escrow

log = logging.getLogger("zescrow.server.writer")
MAX_BATCH = 256


class _Item:
    __slots__ = ("row", "audit", "done", "key")

    def __init__(self, row, audit, key):
        self.row, self.audit, self.done, self.key = row, audit, Future(), key


class GroupWriter:
    def __init__(self, engine, lock_path=None, quotas=None):
        self.engine = engine
        self.quotas = quotas  # quotas.service.Quotas: taken from in each commit
        # PostgreSQL: the commits spend from room under the caps lent to this process,
        # on connections that name the lease to the trigger (quotas/leases.py).
        self.lease = None
        if quotas is not None and engine.dialect.name == "postgresql":
            self.lease = Lease(quotas.apart_engine(engine), quotas.max_upload_bytes)
            self.engine = self.lease.engine(engine)
        # SQLite: the processes' writers take turns through a blocking flock,
        # which wakes the next one the moment the lock is free, instead of
        # SQLite's busy handler, which polls with sleeps of up to 100 ms.
        self.lock_fd = None
        if lock_path:
            self.lock_fd = open(lock_path, "a")
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="zescrow-writer", daemon=True)
        self.thread.start()

    def submit(self, escrow_row, audit_row, source=None):
        """Queue one upload, charged to the address `source` (None: to no quota); the
        Future resolves once it is committed, or fails with RateLimited or StorageFull."""
        item = _Item(escrow_row, audit_row, None if source is None else bucket_key(source))
        self.queue.put(item)
        return item.done

    def _run(self):
        if self.quotas is not None:
            try:
                with self._turn(), self.engine.begin() as conn:
                    self.quotas.publish(conn)
            except Exception:  # noqa: BLE001 — the caps last written stay in force
                log.warning("could not write this node's caps to the database", exc_info=True)
        while True:
            try:  # with a lease, a second without uploads gives it back
                batch = [self.queue.get(timeout=self.lease and self.lease.idle_seconds)]
            except queue.Empty:
                self._idle()
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            if self.quotas is not None and self.quotas.sweep_due():
                self._sweep()

    def _write(self, batch):
        # PostgreSQL: the rate buckets are taken in a short transaction of their own,
        # so that a bucket's row lock is not held through the commit's WAL flush
        # (one busy address would make every writer on every node wait in turn).
        # SQLite: in the commit, as its writers take turns anyway.
        verdicts = None
        if self.lease is not None:
            verdicts = self.quotas.take_apart(self.engine, [item.key for item in batch])
        self._store(batch, verdicts)

    def _store(self, batch, verdicts):
        try:
            verdicts = self._commit(batch, verdicts)
        except Exception as err:  # noqa: BLE001 — reported to its request
            if len(batch) == 1:
                batch[0].done.set_exception(err)
                return
            # One bad row, or the one upload too many for a cap, must not fail its
            # neighbours: alone, each is committed or refused by itself.
            if not isinstance(err, StorageFull):
                log.exception("batch of %d failed; committing one by one", len(batch))
            for i, item in enumerate(batch):
                self._store([item], None if verdicts is None else verdicts[i:i + 1])
            return
        for item, refused in zip(batch, verdicts):
            if refused is None:
                item.done.set_result(True)
            else:
                item.done.set_exception(refused)

    def _commit(self, batch, verdicts=None):
        """Insert the batch's admitted uploads in one transaction; their verdicts
        (taken here from the rate buckets unless given)."""
        if self.lease is not None:  # verdicts given
            admitted = [item.row for item, refused in zip(batch, verdicts) if refused is None]
            self.lease.ensure(admitted)
        loans = False
        with self._turn(), self.engine.begin() as conn:
            if verdicts is None:
                verdicts = [None] * len(batch)
                if self.quotas is not None:
                    # SQLite: in the commit, but a bucket with plenty left lends this
                    # process tokens, so most commits of a busy address skip it.
                    charge, extra = self.quotas.borrow([item.key for item in batch])
                    verdicts = self.quotas.take(conn, charge, extra=extra)
                    loans = True
            self._insert(conn, [item for item, refused in zip(batch, verdicts)
                                if refused is None])
        if loans:
            self.quotas.keep_loans()
        if self.lease is not None:
            self.lease.spent(admitted)
        return verdicts

    def _insert(self, conn, admitted):
        if not admitted:
            return
        conn.execute(insert(AuditEvent.__table__), [item.audit for item in admitted])
        try:  # the triggers refuse a row over a cap: StorageFull undoes it all
            conn.execute(insert(Escrow.__table__), [item.row for item in admitted])
        except IntegrityError as err:
            full = self.quotas and self.quotas.storage_full(err)
            if full:
                raise full from None
            raise

    def _idle(self):
        try:
            self.lease.give_back()
        except Exception:  # noqa: BLE001 — the next renewal or the sweep will
            log.warning("could not give back this process's lease", exc_info=True)

    def _sweep(self):
        try:
            with self._turn(), self.engine.begin() as conn:
                self.quotas.sweep(conn)
            if self.lease is not None:
                self.lease.sweep()
        except Exception:  # noqa: BLE001 — a later sweep will do
            log.warning("could not clear out idle rate buckets or leases", exc_info=True)

    def _turn(self):
        return turn(self.lock_fd)


@contextlib.contextmanager
def turn(lock_fd):
    """This process's turn at the SQLite file: a blocking flock on the shared writer.lock
    (None: PostgreSQL, no turns). The upload and the report writers both take it."""
    if lock_fd is None:
        yield
        return
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
