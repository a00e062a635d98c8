"""The coverage writer (an adversarial review's finding): two reports of one host in
one batch, each with a user new to it, made the whole batch — other hosts' reports
too — fail with a UNIQUE error. Real SQLite, the real migrations' tables."""

import datetime as dt
from concurrent.futures import Future

from sqlalchemy import insert


def _row(host, name):
    return {"host_id": host, "username": name, "digest": None, "escrowed_digest": None,
            "escrow_id": None, "client_error": None, "client_error_at": None,
            "state": "missing", "reason": "r"}


def test_two_reports_of_one_host_in_a_batch_fail_nobody(tmp_path):
    from zescrow_server import db
    from zescrow_server.coverage.writer import ReportWriter, Stale
    from zescrow_server.hosts.models import Host

    url = "sqlite:///%s" % (tmp_path / "z.db")
    db.migrate(url)
    engine = db.make_engine(url)
    now = dt.datetime(2026, 12, 3, 10)
    a, b = "a" * 16, "b" * 16
    with engine.begin() as conn:
        conn.execute(insert(Host), [{"id": h, "name": h, "public_key": "x", "token_id": "t",
                                     "enrolled_at": now} for h in (a, b)])
    writer = ReportWriter(engine)
    later = now + dt.timedelta(microseconds=1)
    batch = [(b, now, now, [_row(b, "victim")], Future()),
             (a, later, now, [_row(a, "x"), _row(a, "y")], Future()),
             (a, now, now, [_row(a, "x")], Future()),  # older, arrived second: first in order
             (a, later + dt.timedelta(microseconds=1), now, [_row(a, "x")], Future())]
    writer._store(batch)
    assert all(item[-1].result() for item in batch)
    # A replay of one of them now is not newer than the last.
    again = [(a, later, now, [_row(a, "x")], Future())]
    writer._store(again)
    assert isinstance(again[0][-1].exception(), Stale)
    with engine.connect() as conn:
        rows = sorted(conn.exec_driver_sql("SELECT host_id, username FROM coverage"))
    assert rows == [(a, "x"), (b, "victim")]  # the newest report of a: only x
