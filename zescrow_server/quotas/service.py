"""Uploads take from the quotas inside the upload writer's transaction.

Per address: a token bucket of rate_limit_per_minute (a burst of a
quarter of it), one row per address in rate_buckets, locked while a
commit takes from it — so every process of every node takes from the same
bucket, and two commits never both spend its last token. Global: after a
commit's inserts, quota_usage (kept by triggers) must stay within
max_unclaimed_escrows and max_unclaimed_bytes, or the commit is undone and
its uploads are tried one by one, each refused with StorageFull once
there is no room. Charging in the commit costs a few statements per
commit, not a transaction per upload.
"""

import ipaddress
import logging
import math
import re
import time

from sqlalchemy import delete, select

from ..errors import RateLimited, StorageFull
from .models import RateBucket

log = logging.getLogger("zescrow.server.quotas")
SWEEP_EVERY = 60  # seconds between clear-outs of buckets that have filled up again

# One statement per bucket and commit, in the driver's own SQL (building it
# with SQLAlchemy cost more than the commit's fsync): refill the bucket for the
# time since it was counted, take as many of the n uploads as it has whole
# tokens, and say how many (taken) and what is left. An upsert: a new address
# starts full. On PostgreSQL it locks the row until the commit, so that two
# commits never spend the same token; SQLite has one writer at a time.
_TAKE = """INSERT INTO rate_buckets (address, tokens, updated, taken)
VALUES ($address, $burst - MIN($n, $whole), $now, MIN($n, $whole))
ON CONFLICT (address) DO UPDATE SET
  taken = MIN($n, WHOLE),
  tokens = REFILLED - MIN($n, WHOLE),
  updated = $now
RETURNING taken, tokens"""
_REFILLED = "MIN($burst, rate_buckets.tokens + MAX(0, $now - rate_buckets.updated) * $rate)"


def _take_sql(postgres):
    # The whole tokens: FLOOR on PostgreSQL, whose CAST rounds; on SQLite a CAST,
    # which truncates (the same for these non-negative numbers; FLOOR needs
    # SQLite's optional math functions).
    whole = ("FLOOR(%s)" if postgres else "CAST(%s AS INTEGER)") % _REFILLED
    sql = _TAKE.replace("WHOLE", whole).replace("REFILLED", _REFILLED)
    if postgres:  # pyformat, LEAST and GREATEST
        sql = sql.replace("MIN(", "LEAST(").replace("MAX(", "GREATEST(")
        return re.sub(r"\$(\w+)", r"%(\1)s", sql)
    return re.sub(r"\$(\w+)", r":\1", sql)  # sqlite3's named style


TAKE = {False: _take_sql(False), True: _take_sql(True)}
USAGE = "SELECT escrows, bytes FROM quota_usage WHERE name = 'unclaimed'"


def bucket_key(source):
    """The bucket of a client address: the address itself, or its /64 for IPv6 (one
    customer's allocation: an attacker has every address in it)."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return source[:64]
    if address.version == 6:
        return str(ipaddress.ip_network((address, 64), strict=False))
    return str(address)


class Quotas:
    def __init__(self, settings):
        per_minute = settings.rate_limit_per_minute
        self.rate = max(0, per_minute) / 60.0
        self.burst = max(1, per_minute // 4)
        self.max_escrows = settings.max_unclaimed_escrows
        self.max_bytes = settings.max_unclaimed_bytes
        self.swept = time.time()
        self.warned = 0.0

    def take(self, conn, keys, now=None):
        """One upload from the bucket of each key (None: not charged), in the caller's
        transaction; a list with None where the upload may go, else its RateLimited."""
        verdicts = [None] * len(keys)
        wanted = {}
        for i, key in enumerate(keys):
            if key is not None and self.rate > 0:
                wanted.setdefault(key, []).append(i)
        if not wanted:
            return verdicts
        sql = TAKE[conn.dialect.name == "postgresql"]
        now = now or time.time()
        for address in sorted(wanted):  # every commit locks buckets in this order: no deadlock
            indexes = wanted[address]
            taken, tokens = conn.exec_driver_sql(sql, {
                "address": address, "n": len(indexes), "burst": float(self.burst),
                "whole": self.burst, "rate": self.rate, "now": now}).one()
            for i in indexes[taken:]:
                verdicts[i] = RateLimited(max(1, math.ceil((1 - tokens) / self.rate)))
        return verdicts

    def take_apart(self, engine, keys):
        """take() in a transaction of its own that waits for no WAL flush: the bucket
        rows are locked for a statement, not for the upload's commit. What it took
        stays taken if that commit then fails (a crash may forget the last takes)."""
        if self.rate <= 0 or all(key is None for key in keys):
            return [None] * len(keys)
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            return self.take(conn, keys)

    def check_room(self, conn):
        """After a commit's inserts: StorageFull if the unclaimed escrows are over a cap.

        The triggers' update holds quota_usage's row until the commit, so
        what is read here is exact, also with other nodes writing.
        """
        if not (self.max_escrows or self.max_bytes):
            return
        escrows, size = conn.exec_driver_sql(USAGE).one()
        if self.max_escrows and escrows > self.max_escrows:
            self._full("at most %d unclaimed escrows" % self.max_escrows)
        if self.max_bytes and size > self.max_bytes:
            self._full("at most %d bytes of unclaimed escrows" % self.max_bytes)

    def _full(self, what):
        now = time.monotonic()
        if now - self.warned > 60:  # a line a minute per process, not one per refusal
            self.warned = now
            log.warning("refusing uploads (507 storage-full): the server holds %s; claims, "
                        "deletions and purges make room, or raise the cap", what)
        raise StorageFull(what)

    def sweep_due(self):
        return self.rate > 0 and time.time() - self.swept >= SWEEP_EVERY

    def sweep(self, conn):
        """Drop buckets that have filled up again: a full bucket and none are the same."""
        self.swept = now = time.time()
        idle = select(RateBucket.address).where(
            RateBucket.updated < now - self.burst / self.rate - SWEEP_EVERY).limit(1000)
        # SKIP LOCKED: never wait for (or deadlock with) a commit taking from one.
        conn.execute(delete(RateBucket).where(RateBucket.address.in_(
            idle.with_for_update(skip_locked=True))))

