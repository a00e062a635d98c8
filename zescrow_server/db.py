"""The database: SQLAlchemy 2 engine and sessions, SQLite (WAL) or PostgreSQL.

SQLite is the embedded default: WAL so readers never block the writer,
synchronous=FULL so a commit is on disk before we answer 201 (S8), and a
busy timeout because several server processes share the file.
"""

import sqlalchemy
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool

from .errors import DatabaseUnavailable

# declarative_base: in SQLAlchemy 1.4 (Debian 12) and, as a legacy form, 2.x.
Base = declarative_base()
SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2


def make_engine(url):
    future = {} if SQLALCHEMY_2 else {"future": True}  # 2.0-style API on 1.4
    if url.startswith("sqlite"):
        # A pool of open connections (1.4 would use none for an SQLite file).
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               poolclass=QueuePool, pool_size=8, max_overflow=8, **future)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(postgres_url(url), pool_size=8, max_overflow=8, pool_pre_ping=True,
                         **future)


def postgres_url(url):
    """psycopg 3 where SQLAlchemy 2 has its dialect; psycopg2 on 1.4 (Debian 12)."""
    if url.startswith("postgresql://"):
        driver = "psycopg" if SQLALCHEMY_2 else "psycopg2"
        return "postgresql+%s://%s" % (driver, url[len("postgresql://"):])
    return url


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    # WAL is a property of the file, set once by migrate(); switching it here
    # from several processes at once would fail with "database is locked".
    if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def as_error(err, conf):
    """A failure to reach or open the database as DatabaseUnavailable, else None."""
    if not isinstance(err, OperationalError):
        return None
    # The driver's first line names the cause; the URL (and its password) stays out.
    lines = str(getattr(err, "orig", None) or err).strip().splitlines()
    return DatabaseUnavailable(reason=lines[0] if lines else "no reason given", conf=conf)


def make_sessionmaker(engine):
    return sessionmaker(engine, expire_on_commit=False, **({} if SQLALCHEMY_2 else
                                                           {"future": True}))


def migrate(url):
    """Bring the schema to the newest revision with Alembic (also for a new database)."""
    import os

    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(__file__),
                                                         "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")
    if url.startswith("sqlite"):
        engine = make_engine(url)  # its connect hook switches the file to WAL
        with engine.connect():
            pass
        engine.dispose()
