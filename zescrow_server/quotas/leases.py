"""PostgreSQL: room under the caps lent to an upload writer, spent by the trigger.

Had every upload commit moved quota_usage, each would hold that one row's
lock through its WAL flush, and the commits of every process and node
would take turns at the disk instead of sharing a flush (the writers
alone were 10-14% slower; docs/BENCHMARKS.md). So, while the caps are far
off, a writer process borrows room for LEND escrows and their bytes in a
short statement of its own (quota_usage moved, a quota_leases row made),
and the insert trigger spends its rows from that row: the writer's
connections name it (zescrow.quota_lease, migration 0007). No other
commit touches the row, and the spend commits or rolls back with the
rows. What a lease cannot cover goes to quota_usage as before, exactly,
and near a cap (less than MARGIN leases of room left) none is lent: so no
upload ever goes over a cap, and at one the uploads are refused as before.
The writer renews its lease when it is spent or a second old (the unspent
room goes back in the same statement) and gives it back after a second
without uploads; a dead process's lease is taken back by the writers'
sweep.

A lease is lent without waiting for the WAL flush: a commit that spends
from it comes later in the WAL and flushes it too; if the database crashes
before, both are gone.
"""

import time
import uuid

from sqlalchemy import create_engine

from ..db import SQLALCHEMY_2

LEND, LEND_SECONDS = 64, 1.0  # escrows a lease holds, and how long before it is renewed
MARGIN = 16  # leases' worth of room that must stay free for one to be lent
STALE_SECONDS = 60  # past its time by this much, a lease's writer is gone

GIVE_BACK = """WITH gone AS (
  DELETE FROM quota_leases WHERE id IN (
    SELECT id FROM quota_leases WHERE {which} LIMIT 1000 FOR UPDATE SKIP LOCKED)
  RETURNING escrows, bytes)
UPDATE quota_usage SET escrows = escrows - n, bytes = bytes - b
FROM (SELECT COUNT(*) AS k, COALESCE(SUM(escrows), 0) AS n, COALESCE(SUM(bytes), 0) AS b
      FROM gone) AS back
WHERE name = 'unclaimed' AND k > 0"""
LEND_SQL = """WITH lent AS (
  UPDATE quota_usage SET escrows = escrows + %(n)s::bigint, bytes = bytes + %(b)s::bigint
  WHERE name = 'unclaimed'
    AND (max_escrows = 0 OR escrows + %(n)s::bigint * %(margin)s <= max_escrows)
    AND (max_bytes = 0 OR bytes + %(b)s::bigint * %(margin)s <= max_bytes)
  RETURNING name)
INSERT INTO quota_leases (id, escrows, bytes, until)
SELECT %(id)s::varchar, %(n)s::bigint, %(b)s::bigint, %(until)s::float8 FROM lent
ON CONFLICT (id) DO UPDATE SET escrows = quota_leases.escrows + excluded.escrows,
  bytes = quota_leases.bytes + excluded.bytes, until = excluded.until
RETURNING id"""  # a conflict: the old lease was being swept, so not given back; add to it


class Lease:
    """One writer process's lease: what it believes is left of it, and until when."""

    idle_seconds = LEND_SECONDS  # without an upload this long, the writer gives it back

    def __init__(self, apart, max_upload_bytes):
        self.apart = apart  # autocommit, no wait for the WAL flush (Quotas.apart_engine)
        self.id = uuid.uuid4().hex
        self.per_upload = max(1, int(max_upload_bytes))
        self.escrows = self.bytes = 0
        self.until = 0.0
        self.refused = False  # the last lend found the caps too near

    def engine(self, engine):
        """An engine like `engine` whose connections name this lease to the trigger."""
        return create_engine(engine.url, pool_size=2, max_overflow=2, pool_pre_ping=True,
                             connect_args={"options": "-c zescrow.quota_lease=" + self.id},
                             **({} if SQLALCHEMY_2 else {"future": True}))

    def ensure(self, rows):
        """Before a commit of `rows`: renew the lease if it cannot cover them or is due.
        Whether it could be lent or not, the commit may go (the trigger decides)."""
        size = sum(r["size"] for r in rows if r.get("claimed_at") is None)
        now = time.time()
        if now < self.until and (self.refused or self.escrows >= len(rows)
                                 and self.bytes >= size):
            return  # covered, or near a cap: quota_usage it is until the time is up
        params = {"id": self.id, "n": LEND, "b": LEND * self.per_upload, "margin": MARGIN,
                  "until": now + LEND_SECONDS}
        with self.apart.connect() as conn:
            conn.exec_driver_sql(GIVE_BACK.format(which="id = %(id)s"), params)
            lent = conn.exec_driver_sql(LEND_SQL, params).first()
        self.escrows, self.bytes = (LEND, params["b"]) if lent else (0, 0)
        self.refused = not lent
        self.until = params["until"]

    def give_back(self):
        """The writer is idle: its unspent room goes back to quota_usage at once, so that
        near a cap no idle process holds room another process could use."""
        if self.until == 0.0:
            return
        with self.apart.connect() as conn:
            conn.exec_driver_sql(GIVE_BACK.format(which="id = %(id)s"), {"id": self.id})
        self.escrows = self.bytes = 0
        self.until, self.refused = 0.0, False

    def spent(self, rows):
        """After a commit of `rows`: the trigger took them from the lease if it covered them."""
        size = sum(r["size"] for r in rows if r.get("claimed_at") is None)
        if self.escrows >= len(rows) and self.bytes >= size:
            self.escrows -= len(rows)
            self.bytes -= size

    def sweep(self, now=None):
        """Take back the leases of writers that are gone (past their time by a minute)."""
        with self.apart.connect() as conn:
            conn.exec_driver_sql(GIVE_BACK.format(which="until < %(before)s"),
                                 {"before": (now or time.time()) - STALE_SECONDS})
