"""Reading coverage: plain SQL through the database's own driver (sqlite3, psycopg).

The page and `zescrow-server admin coverage` must answer within 200 ms with
100,000 hosts × 3 users (issue #13). The queries are cheap — each row's
state is stored, the counts use indexes — but importing SQLAlchemy alone
takes 150 ms, so the command reads through the driver directly
(connect()), and the page hands the same functions its pooled driver
connection (driver()). One set of queries for both.

    summary(conn)                   {"states": {state: n}, "hosts", "silent"}
    rows(conn, state, limit, offset)  the users, with their host's name
    silent_hosts(conn, limit)       hosts not heard from for SILENT_AFTER
"""

import datetime as dt

from .states import STATES

SILENT_AFTER = dt.timedelta(days=2)
COLUMNS = ("host", "host_name", "user", "state", "reason", "escrow", "reported_at")


class Conn:
    """A driver connection and its parameter style ("?" for sqlite3, "%s" for psycopg)."""

    def __init__(self, dbapi, sqlite):
        self.dbapi, self.sqlite = dbapi, sqlite
        self.mark = "?" if sqlite else "%s"

    def query(self, sql, args=()):
        cur = self.dbapi.cursor()
        try:
            cur.execute(sql.replace("?", self.mark), args)
            return cur.fetchall()
        finally:
            cur.close()

    def time(self, value):
        """A datetime as the column holds it: SQLAlchemy keeps SQLite's as text."""
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def read_time(self, value):
        if value is None or isinstance(value, dt.datetime):
            return value
        return dt.datetime.fromisoformat(value)


def driver(session):
    """The session's own driver connection, in the session's transaction."""
    connection = session.connection()
    return Conn(connection.connection, connection.dialect.name == "sqlite")


def connect(db_url):
    """A read-only driver connection for the settings' database URL; OSError-like
    failures are the caller's to word (cli/admin.py)."""
    if db_url.startswith("sqlite:///"):
        import sqlite3

        return Conn(sqlite3.connect("file:%s?mode=ro" % db_url[len("sqlite:///"):], uri=True),
                    True)
    url = "postgresql://" + db_url.split("://", 1)[1]  # a libpq URL, whatever the driver
    try:  # psycopg 3 (PyPI's stack), else psycopg2 (Debian 12's): both take "%s"
        import psycopg
    except ImportError:
        import psycopg2 as psycopg
    return Conn(psycopg.connect(url), False)


def summary(conn, now=None):
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    counts = dict(conn.query("SELECT state, count(*) FROM coverage GROUP BY state"))
    # Both on the (revoked_at, last_report_at) index.
    hosts = conn.query("SELECT count(*) FROM hosts WHERE revoked_at IS NULL")[0][0]
    silent = conn.query("SELECT count(*) FROM hosts WHERE revoked_at IS NULL AND "
                        "last_report_at IS NULL")[0][0] + \
        conn.query("SELECT count(*) FROM hosts WHERE revoked_at IS NULL AND last_report_at < ?",
                   (conn.time(now - SILENT_AFTER),))[0][0]
    return {"states": {s: counts.get(s, 0) for s in STATES}, "hosts": hosts, "silent": silent}


def rows(conn, state=None, limit=100, offset=0):
    """Coverage rows with their host's name and when it last reported, by host and user."""
    sql = ("SELECT c.host_id, h.name, c.username, c.state, c.reason, c.escrow_id, "
           "h.last_report_at FROM coverage c JOIN hosts h ON h.id = c.host_id")
    args = []
    if state:
        sql += " WHERE c.state = ?"
        args.append(state)
    sql += " ORDER BY c.host_id, c.username"
    if limit is not None:
        sql += " LIMIT %d OFFSET %d" % (int(limit), int(offset))
    for r in conn.query(sql, args):
        yield {"host": r[0], "host_name": r[1], "user": r[2], "state": r[3], "reason": r[4],
               "escrow": r[5], "reported_at": _iso(conn.read_time(r[6]))}


def silent_hosts(conn, limit=100, now=None):
    """[{"id", "name", "enrolled_at", "last_report_at"}]: never reported first."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    columns = "SELECT id, name, enrolled_at, last_report_at FROM hosts WHERE revoked_at IS NULL"
    found = conn.query(columns + " AND last_report_at IS NULL LIMIT %d" % int(limit))
    if len(found) < limit:
        found += conn.query(columns + " AND last_report_at < ? ORDER BY last_report_at LIMIT %d"
                            % int(limit - len(found)), (conn.time(now - SILENT_AFTER),))
    return [{"id": r[0], "name": r[1], "enrolled_at": conn.read_time(r[2]),
             "last_report_at": conn.read_time(r[3])} for r in found]


def _iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
