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
land, and a host revoked meanwhile writes nothing.
"""

import contextlib
import fcntl
import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy import bindparam, delete, insert, or_, update

from ..hosts.models import Host
from .models import Coverage

log = logging.getLogger("zescrow.server.coverage")
MAX_BATCH = 256


# Built once (building a statement costs more than running it).
MOVE = update(Host).where(
    Host.id == bindparam("host"), Host.revoked_at.is_(None),
    or_(Host.last_report_time.is_(None), Host.last_report_time < bindparam("time"))).values(
    last_report_at=bindparam("now"), last_report_time=bindparam("time"))
FORGET = delete(Coverage).where(Coverage.host_id == bindparam("host"))


class Stale(Exception):
    """The host reported something newer meanwhile, or was revoked."""


class ReportWriter:
    def __init__(self, engine, lock_path=None):
        self.engine = engine
        self.lock_fd = open(lock_path, "a") if lock_path else None
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
            try:
                outcomes = self._commit(batch)
            except Exception as err:  # noqa: BLE001 — every request of the batch hears it
                log.exception("could not store %d coverage reports", len(batch))
                outcomes = [err] * len(batch)
            for item, outcome in zip(batch, outcomes):
                if outcome is None:
                    item[-1].set_result(True)
                else:
                    item[-1].set_exception(outcome)

    def _commit(self, batch):
        outcomes, rows = [], []
        with self._turn(), self.engine.begin() as conn:
            for host_id, report_time, now, host_rows, _ in batch:
                moved = conn.execute(MOVE, {"host": host_id, "time": report_time,
                                            "now": now}).rowcount
                if moved != 1:
                    outcomes.append(Stale())
                    continue
                conn.execute(FORGET, {"host": host_id})
                rows += host_rows
                outcomes.append(None)
            if rows:  # one executemany for the whole batch
                conn.execute(insert(Coverage), rows)
        return outcomes

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
