"""The database: SQLAlchemy 2 engine and sessions, SQLite (WAL) or PostgreSQL.

SQLite is the embedded default: WAL so readers never block the writer,
synchronous=FULL so a commit is on disk before we answer 201 (S8), and a
busy timeout because several server processes share the file.
"""

from sqlalchemy import create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    pass


def make_engine(url):
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    # WAL is a property of the file, set once by migrate(); switching it here
    # from several processes at once would fail with "database is locked".
    if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_sessionmaker(engine):
    return sessionmaker(engine, expire_on_commit=False)


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
