"""Alembic environment: the URL comes from the caller (zescrow_server.db.migrate)."""

from alembic import context
from zescrow_server.db import Base, make_engine
from zescrow_server.audit import models as _audit  # noqa: F401 — register the tables
from zescrow_server.auth import models as _auth  # noqa: F401
from zescrow_server.escrows import models as _escrows  # noqa: F401
from zescrow_server.quotas import models as _quotas  # noqa: F401
from zescrow_server.hosts import models as _hosts  # noqa: F401
from zescrow_server.coverage import models as _coverage  # noqa: F401
from zescrow_server.recovery import models as _recovery  # noqa: F401
from zescrow_server.helpdesk import models as _helpdesk  # noqa: F401

engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
