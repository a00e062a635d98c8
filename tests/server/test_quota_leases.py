"""Issue #11 on PostgreSQL: the caps hold without every upload commit locking one row.

The real upload writer (GroupWriter) on a real PostgreSQL, migrated to head:
far from the caps its commits spend from room lent to its process
(quotas/leases.py), so a commit never waits for the shared quota_usage row;
near a cap nothing is lent and the cap is exact; the room a dead process
held comes back. quota_usage always counts the unclaimed escrows plus the
room lent and unspent.
"""

import concurrent.futures
import time

import psycopg
import pytest

from zescrow_server import db
from zescrow_server.config import Settings
from zescrow_server.errors import StorageFull
from zescrow_server.escrows import service
from zescrow_server.escrows.writer import GroupWriter
from zescrow_server.quotas import leases
from zescrow_server.quotas.service import Quotas

SEALED = b"\x85" * 300


@pytest.fixture
def database(postgres, request, monkeypatch):
    if "idle" not in request.node.name:  # the writers keep their leases while the test looks
        monkeypatch.setattr(leases.Lease, "idle_seconds", 3600)
    url = postgres.create_database("leases_" + request.node.name.split("[")[0][5:40])
    db.migrate(url)
    return url


def _writer(url, **caps):
    settings = Settings(data_dir="/nonexistent", rate_limit_per_minute=0, **caps)
    return GroupWriter(db.make_engine(url), quotas=Quotas(settings)), settings


def _upload(writer, settings, sealed=SEALED):
    row, audit, _, _ = service.new_upload(sealed, settings, "192.0.2.1", host="leases")
    return writer.submit(row, audit, "192.0.2.1")


def _one(url, sql):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()


def _books(url):
    """(quota_usage's escrows and bytes, the unclaimed escrows' plus the unspent leases')."""
    return _one(url, "SELECT u.escrows, u.bytes, "
                "(SELECT count(*) FROM escrows WHERE claimed_at IS NULL) "
                "+ (SELECT coalesce(sum(escrows), 0) FROM quota_leases), "
                "(SELECT coalesce(sum(size), 0) FROM escrows WHERE claimed_at IS NULL) "
                "+ (SELECT coalesce(sum(bytes), 0) FROM quota_leases) "
                "FROM quota_usage u")


def test_far_from_the_caps_a_commit_never_waits_for_the_shared_row(database):
    writer, settings = _writer(database)
    _upload(writer, settings).result(timeout=30)
    assert _one(database, "SELECT escrows FROM quota_leases") == (leases.LEND - 1,)
    # Another transaction holds quota_usage: the next commits go through all the same.
    with psycopg.connect(database) as holder:
        holder.execute("SELECT * FROM quota_usage FOR UPDATE")
        for _ in range(3):
            _upload(writer, settings).result(timeout=30)
    assert _one(database, "SELECT count(*) FROM escrows") == (4,)
    usage, size, counted, counted_size = _books(database)
    assert (usage, size) == (counted, counted_size) == (leases.LEND, _lent_bytes(settings))


def _lent_bytes(settings):
    return leases.LEND * settings.max_upload_bytes


def test_a_failed_commit_spends_nothing(database):
    writer, settings = _writer(database)
    first = _upload(writer, settings)
    first.result(timeout=30)
    row, audit, _, _ = service.new_upload(SEALED, settings, "192.0.2.1")
    with psycopg.connect(database) as conn:
        row["id"] = conn.execute("SELECT id FROM escrows").fetchone()[0]  # taken: refused
    with pytest.raises(Exception, match="duplicate key"):
        writer.submit(row, audit, "192.0.2.1").result(timeout=30)
    _upload(writer, settings).result(timeout=30)
    assert _one(database, "SELECT escrows FROM quota_leases") == (leases.LEND - 2,)
    usage, size, counted, counted_size = _books(database)
    assert (usage, size) == (counted, counted_size)


def test_near_a_cap_nothing_is_lent_and_the_cap_is_exact(database):
    cap = leases.LEND * leases.MARGIN - 1
    writer, settings = _writer(database, max_unclaimed_escrows=cap)
    with psycopg.connect(database, autocommit=True) as conn:  # all but 10 taken already
        conn.execute("UPDATE quota_usage SET escrows = %s", (cap - 10,))
    futures = [_upload(writer, settings) for _ in range(25)]
    outcomes = []
    for f in concurrent.futures.as_completed(futures, timeout=60):
        outcomes.append(type(f.exception()) if f.exception() else "committed")
    assert outcomes.count("committed") == 10 and outcomes.count(StorageFull) == 15, outcomes
    assert _one(database, "SELECT count(*) FROM quota_leases") == (0,)
    assert _one(database, "SELECT escrows FROM quota_usage") == (cap,)


def test_the_room_a_dead_writer_held_comes_back(database):
    gone, settings = _writer(database)
    _upload(gone, settings).result(timeout=30)  # its process "dies" with room lent
    assert _books(database)[0] == leases.LEND
    survivor, _ = _writer(database)
    survivor.lease.sweep(now=time.time() + 1)  # the lease is not stale yet: kept
    assert _books(database)[0] == leases.LEND
    survivor.lease.sweep(now=time.time() + leases.LEND_SECONDS + leases.STALE_SECONDS + 1)
    assert _one(database, "SELECT count(*) FROM quota_leases") == (0,)
    assert _books(database)[:2] == (1, len(SEALED))


def test_an_idle_writer_gives_its_lease_back(database):
    writer, settings = _writer(database)
    _upload(writer, settings).result(timeout=30)
    assert _books(database)[0] == leases.LEND
    deadline = time.monotonic() + 30
    while _one(database, "SELECT count(*) FROM quota_leases") != (0,):
        assert time.monotonic() < deadline, "the lease was never given back"
        time.sleep(0.1)
    assert _books(database)[:2] == (1, len(SEALED))
