"""Uploads take from the quotas as the upload writer commits them.

Per address: a token bucket of rate_limit_per_minute (a burst of a
quarter of it), one row per address in rate_buckets, so that every
process of every node takes from the same bucket; the take is one
statement that locks the rows, so two commits never spend the same token.
Global: triggers on escrows keep quota_usage (the unclaimed escrows' count
and bytes) and refuse, inside the very INSERT, a row that takes it over
max_unclaimed_escrows or max_unclaimed_bytes, which each node writes into
that row when it starts. The writer then tries the batch's uploads one by
one, each refused with StorageFull once there is no room. On SQLite the
caps cost no statement of their own, and the rate limit one per commit.
On PostgreSQL no commit holds a lock that the others need through its WAL
flush: the rate limit is taken just before, in a statement of its own
(take_apart: one per 64 uploads of a busy address), and while the caps are
far off the trigger spends from room lent to the writer (leases.py).
"""

import ipaddress
import logging
import math
import re
import time

from sqlalchemy import create_engine, delete, select
from sqlalchemy.exc import IntegrityError

from ..db import SQLALCHEMY_2
from ..errors import RateLimited, StorageFull
from .models import RateBucket

log = logging.getLogger("zescrow.server.quotas")
SWEEP_EVERY = 60  # seconds between clear-outs of buckets that have filled up again
FULL = "zescrow-storage-full"  # what the triggers raise (migration 0004)
# A bucket with this many tokens left (a limit far above the client's use) lends
# a process LEND more at a time for LEND_SECONDS: one statement per LEND uploads
# of a busy address, and never more than the bucket held.
PLENTY, LEND, LEND_SECONDS = 1000, 64, 1.0

# One statement per commit for all its addresses, in the driver's own SQL
# (building statements with SQLAlchemy cost more than the commit's fsync):
# each bucket is refilled for the time since it was counted, gives as many of
# its n uploads as it has whole tokens, and says how many (taken) and what is
# left. An upsert: a new address starts full, and the proposed row's taken,
# min(n, burst), is all a bucket could ever give. PostgreSQL locks the rows
# in address order (no deadlock between two commits); SQLite has one writer.
_UPDATE = """ON CONFLICT (address) DO UPDATE SET
  taken = MIN(excluded.taken, WHOLE),
  tokens = REFILLED - MIN(excluded.taken, WHOLE),
  updated = $now
RETURNING address, taken, tokens"""
_REFILLED = "MIN($burst, rate_buckets.tokens + MAX(0, $now - rate_buckets.updated) * $rate)"
_INSERT = "INSERT INTO rate_buckets (address, tokens, updated, taken)\n"
_POSTGRES_ROWS = """SELECT a, $burst - LEAST(n, $whole), $now, LEAST(n, $whole)
FROM unnest($addresses::varchar[], $counts::int[]) AS proposed(a, n) ORDER BY a
"""


def _update_sql(postgres):
    # The whole tokens: FLOOR on PostgreSQL, whose CAST rounds; a CAST on SQLite,
    # which truncates (the same for these non-negative numbers; FLOOR needs
    # SQLite's optional math functions).
    whole = ("FLOOR(%s)" if postgres else "CAST(%s AS INTEGER)") % _REFILLED
    sql = _UPDATE.replace("WHOLE", whole).replace("REFILLED", _REFILLED)
    if postgres:
        return sql.replace("MIN(", "LEAST(").replace("MAX(", "GREATEST(")
    return sql


TAKE_POSTGRES = re.sub(r"\$(\w+)", r"%(\1)s", _INSERT + _POSTGRES_ROWS + _update_sql(True))


def take_sqlite(count):
    """The statement for `count` addresses, sqlite3's named style (:a0, :n0, ...)."""
    rows = ",\n".join("(:a%d, :burst - MIN(:n%d, :whole), :now, MIN(:n%d, :whole))"
                      % (i, i, i) for i in range(count))
    return _INSERT + "VALUES " + rows + "\n" + re.sub(r"\$(\w+)", r":\1", _update_sql(False))


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
        self.max_upload_bytes = settings.max_upload_bytes
        self.swept = time.time()
        self.warned = 0.0
        self.apart = None  # PostgreSQL: the engine take_apart() uses
        self.lent = {}  # bucket -> (tokens this process may still spend, until, plenty left)

    def publish(self, conn):
        """Write this node's caps where the triggers read them (0: no cap)."""
        conn.exec_driver_sql(
            "UPDATE quota_usage SET max_escrows = %d, max_bytes = %d WHERE name = 'unclaimed'"
            % (max(0, int(self.max_escrows)), max(0, int(self.max_bytes))))

    def take(self, conn, keys, now=None, extra=None):
        """One upload from the bucket of each key (None: not charged), in the caller's
        transaction; a list with None where the upload may go, else its RateLimited.
        extra: {key: tokens to take beyond the uploads}; the answer's {key: how many of
        them it got} is in self.got."""
        verdicts, self.got = [None] * len(keys), {}
        wanted = {}
        for i, key in enumerate(keys):
            if key is not None and self.rate > 0:
                wanted.setdefault(key, []).append(i)
        if not wanted:
            return verdicts
        extra = extra or {}
        order = sorted(wanted)
        counts = [len(wanted[k]) + extra.get(k, 0) for k in order]
        params = {"burst": float(self.burst), "whole": self.burst, "rate": self.rate,
                  "now": now or time.time()}
        if conn.dialect.name == "postgresql":
            sql = TAKE_POSTGRES
            params.update(addresses=order, counts=counts)
        else:
            sql = take_sqlite(len(order))
            for i, (address, count) in enumerate(zip(order, counts)):
                params.update({"a%d" % i: address, "n%d" % i: count})
        for address, taken, tokens in conn.exec_driver_sql(sql, params):
            taken = int(taken)
            for i in wanted[address][taken:]:
                verdicts[i] = RateLimited(max(1, math.ceil((1 - tokens) / self.rate)))
            self.got[address] = (max(0, taken - len(wanted[address])), tokens)
        return verdicts

    def take_apart(self, engine, keys):
        """take() on a connection of its own that commits each statement at once and
        waits for no WAL flush (PostgreSQL): the bucket rows are locked for one
        statement, not through the upload's commit. What it took stays taken if
        that commit then fails; a crash of the database may forget the last takes.
        A bucket with plenty left lends this process a few tokens more."""
        charge, extra = self.borrow(keys)
        if all(key is None for key in charge):
            return [None] * len(keys)
        with self.apart_engine(engine).connect() as conn:
            verdicts = self.take(conn, charge, extra=extra)
        self.keep_loans()
        return verdicts

    def borrow(self, keys):
        """(the keys still to charge, the extra tokens to ask for): the uploads that
        this process's loans pay for are charged to nobody (None). A bucket with
        PLENTY left lends LEND tokens for LEND_SECONDS, so that an address sending
        many uploads (a load balancer's, a NAT's) costs its bucket one statement in
        LEND, not one in each commit; below PLENTY nothing is lent, so a limit that
        can be reached is counted exactly."""
        if self.rate <= 0:
            return [None] * len(keys), {}
        now = time.monotonic()
        charge = list(keys)
        for i, key in enumerate(keys):
            have, until, plenty = self.lent.get(key, (0, 0.0, False))
            if key is not None and have > 0 and now < until:
                self.lent[key] = (have - 1, until, plenty)
                charge[i] = None  # paid from the loan
        extra = {key: LEND for key in charge if key is not None and self.lent.get(
            key, (0, 0.0, False))[2]}
        return charge, extra

    def keep_loans(self):
        """After take() committed: what it got beyond the uploads is this process's to
        spend (borrow())."""
        now = time.monotonic()
        if len(self.lent) > 10_000:  # forget the loans that ran out
            self.lent = {k: v for k, v in self.lent.items() if v[1] > now}
        for key, (spare, tokens) in self.got.items():
            if spare or tokens >= PLENTY:
                self.lent[key] = (spare, now + LEND_SECONDS, tokens >= PLENTY)
            else:
                self.lent.pop(key, None)
        self.got = {}

    def apart_engine(self, engine):
        """PostgreSQL: an engine like `engine` that commits each statement at once and
        waits for no WAL flush (take_apart, leases.py)."""
        if self.apart is None:
            self.apart = create_engine(
                engine.url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=1,
                connect_args={"options": "-c synchronous_commit=off"},
                **({} if SQLALCHEMY_2 else {"future": True}))
        return self.apart

    def storage_full(self, err):
        """The StorageFull a trigger's refusal stands for, or None for another error."""
        if not isinstance(err, IntegrityError) or FULL not in str(err.orig):
            return None
        return self.full("bytes" if "%s: bytes" % FULL in str(err.orig) else "escrows")

    def full(self, cap):
        """StorageFull for the cap ("escrows" or "bytes") an upload did not fit under."""
        what = ("at most %d bytes of unclaimed escrows" % self.max_bytes if cap == "bytes"
                else "at most %d unclaimed escrows" % self.max_escrows)
        now = time.monotonic()
        if now - self.warned > 60:  # a line a minute per process, not one per refusal
            self.warned = now
            log.warning("refusing uploads (507 storage-full): the server holds %s; claims, "
                        "deletions and purges make room, or raise the cap", what)
        return StorageFull(what)

    def sweep_due(self):
        return time.time() - self.swept >= SWEEP_EVERY

    def sweep(self, conn):
        """Drop buckets that have filled up again: a full bucket and none are the same."""
        self.swept = now = time.time()
        if self.rate <= 0:
            return
        idle = select(RateBucket.address).where(
            RateBucket.updated < now - self.burst / self.rate - SWEEP_EVERY).limit(1000)
        # SKIP LOCKED: never wait for (or deadlock with) a commit taking from one.
        conn.execute(delete(RateBucket).where(RateBucket.address.in_(
            idle.with_for_update(skip_locked=True))))
