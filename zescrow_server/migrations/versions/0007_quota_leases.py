"""PostgreSQL: the upload writers spend room under the caps lent to them, not the shared row.

The insert trigger of 0004 moved quota_usage inside each upload commit, so
every commit of every process and node held that one row's lock through
its WAL flush: the commits took turns at the disk instead of sharing a
flush (the writers alone 10-14% slower; bench/server, PostgreSQL c=8, 10%
and more). Now, while the caps are far off, each writer process borrows
room (quota_leases: 64 escrows and their bytes, taken from quota_usage in
a short statement of its own), and the trigger, on that writer's
connections (the session setting zescrow.quota_lease names the lease),
spends the inserted rows from the lease's row, which no other commit
touches. A lease that cannot cover a statement leaves it to quota_usage
as before, exactly; near a cap no lease is lent at all. Unspent room goes
back to quota_usage when the lease is renewed or, for a process that
died, by the writers' sweep. quota_usage thus counts the unclaimed
escrows plus the room lent and not yet spent. SQLite is unchanged: its
writers take turns anyway.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

INSERT_TRIGGER = """CREATE OR REPLACE FUNCTION zescrow_usage_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE now_used quota_usage%ROWTYPE;
DECLARE lease text := current_setting('zescrow.quota_lease', true);
BEGIN
  IF lease <> '' THEN  -- a writer with room lent to it: spend from its own row
    UPDATE quota_leases SET escrows = quota_leases.escrows - n, bytes = quota_leases.bytes - b
    FROM (SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM inserted
          WHERE claimed_at IS NULL) AS added
    WHERE id = lease AND quota_leases.escrows >= n AND quota_leases.bytes >= b;
    IF FOUND THEN
      RETURN NULL;
    END IF;
  END IF;
  UPDATE quota_usage SET escrows = escrows + n, bytes = bytes + b
  FROM (SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM inserted
        WHERE claimed_at IS NULL) AS added
  WHERE name = 'unclaimed' AND n > 0
  RETURNING quota_usage.* INTO now_used;
  IF now_used.max_escrows > 0 AND now_used.escrows > now_used.max_escrows THEN
    RAISE EXCEPTION 'zescrow-storage-full: escrows' USING ERRCODE = 'check_violation';
  END IF;
  IF now_used.max_bytes > 0 AND now_used.bytes > now_used.max_bytes THEN
    RAISE EXCEPTION 'zescrow-storage-full: bytes' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$"""
LEASE_PART = INSERT_TRIGGER[INSERT_TRIGGER.index("  IF lease"):INSERT_TRIGGER.index("  UPDATE quota_usage")]
GIVE_BACK_ALL = """UPDATE quota_usage SET escrows = escrows - l.n, bytes = bytes - l.b
FROM (SELECT COALESCE(SUM(escrows), 0) AS n, COALESCE(SUM(bytes), 0) AS b FROM quota_leases) AS l
WHERE name = 'unclaimed'"""


def upgrade():
    op.create_table(
        "quota_leases",
        sa.Column("id", sa.String(32), primary_key=True,
                  comment="the writer process's zescrow.quota_lease"),
        sa.Column("escrows", sa.BigInteger, nullable=False, comment="lent and not yet spent"),
        sa.Column("bytes", sa.BigInteger, nullable=False, comment="likewise"),
        sa.Column("until", sa.Float, nullable=False,
                  comment="Unix time the writer renews it; long past it, the sweep takes it back"),
        comment="room under the caps lent to an upload writer (PostgreSQL)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(INSERT_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("LOCK TABLE quota_leases")  # no writer spends while it is given back
        op.execute(GIVE_BACK_ALL)
        op.execute(INSERT_TRIGGER.replace(LEASE_PART, "").replace(
            "DECLARE lease text := current_setting('zescrow.quota_lease', true);\n", ""))
    op.drop_table("quota_leases")
