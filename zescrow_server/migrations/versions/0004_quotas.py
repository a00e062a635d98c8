"""Quotas in the database: per-address rate buckets, and the unclaimed escrows' usage.

The rate limit was a token bucket in each process's memory: with two
workers a client got twice the rate, with two nodes four times. Now
rate_buckets holds one bucket per address, which every process and node
takes from in its commit. quota_usage holds the count and bytes of the
unclaimed escrows, for the caps max_unclaimed_escrows and
max_unclaimed_bytes; triggers on escrows keep it, so that an upload, a
claim, a deletion and a purge move it whoever makes them (the admin
command, another node, a future version), and a cap is one row to read,
not a count over a million rows. It starts from the escrows there are. The
caps themselves are in that row too (each node writes its settings when it
starts), so that the insert trigger refuses a row over a cap inside the
INSERT, exactly, with no statement of the writer's own.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

UNCLAIMED_NOW = """INSERT INTO quota_usage (name, escrows, bytes)
SELECT 'unclaimed', COUNT(*), COALESCE(SUM(size), 0) FROM escrows WHERE claimed_at IS NULL"""

# SQLite has only row triggers. The usage row moves by one escrow at a time.
SQLITE = [
    """CREATE TRIGGER escrows_usage_insert AFTER INSERT ON escrows WHEN NEW.claimed_at IS NULL
    BEGIN UPDATE quota_usage SET escrows = escrows + 1, bytes = bytes + NEW.size
          WHERE name = 'unclaimed';
          SELECT RAISE(ABORT, 'zescrow-storage-full: escrows') FROM quota_usage
          WHERE name = 'unclaimed' AND max_escrows > 0 AND escrows > max_escrows;
          SELECT RAISE(ABORT, 'zescrow-storage-full: bytes') FROM quota_usage
          WHERE name = 'unclaimed' AND max_bytes > 0 AND bytes > max_bytes; END""",
    """CREATE TRIGGER escrows_usage_delete AFTER DELETE ON escrows WHEN OLD.claimed_at IS NULL
    BEGIN UPDATE quota_usage SET escrows = escrows - 1, bytes = bytes - OLD.size
          WHERE name = 'unclaimed'; END""",
    """CREATE TRIGGER escrows_usage_claim AFTER UPDATE OF claimed_at ON escrows
    WHEN (OLD.claimed_at IS NULL) <> (NEW.claimed_at IS NULL)
    BEGIN UPDATE quota_usage
          SET escrows = escrows + CASE WHEN NEW.claimed_at IS NULL THEN 1 ELSE -1 END,
              bytes = bytes + CASE WHEN NEW.claimed_at IS NULL THEN NEW.size ELSE -OLD.size END
          WHERE name = 'unclaimed'; END""",
]

# PostgreSQL: a batch of uploads is one INSERT, and moves the row once
# (statement triggers with transition tables); claims move it row by row.
POSTGRESQL = [
    """CREATE FUNCTION zescrow_usage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE now_used quota_usage%ROWTYPE;
    BEGIN
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
    END $$""",
    """CREATE FUNCTION zescrow_usage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE quota_usage SET escrows = escrows - n, bytes = bytes - b
      FROM (SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM deleted
            WHERE claimed_at IS NULL) AS gone
      WHERE name = 'unclaimed' AND n > 0;
      RETURN NULL;
    END $$""",
    """CREATE FUNCTION zescrow_usage_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (OLD.claimed_at IS NULL) AND (NEW.claimed_at IS NOT NULL) THEN
        UPDATE quota_usage SET escrows = escrows - 1, bytes = bytes - OLD.size
        WHERE name = 'unclaimed';
      ELSIF (OLD.claimed_at IS NOT NULL) AND (NEW.claimed_at IS NULL) THEN
        UPDATE quota_usage SET escrows = escrows + 1, bytes = bytes + NEW.size
        WHERE name = 'unclaimed';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER escrows_usage_insert AFTER INSERT ON escrows
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
    EXECUTE FUNCTION zescrow_usage_insert()""",
    """CREATE TRIGGER escrows_usage_delete AFTER DELETE ON escrows
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
    EXECUTE FUNCTION zescrow_usage_delete()""",
    """CREATE TRIGGER escrows_usage_claim AFTER UPDATE OF claimed_at ON escrows
    FOR EACH ROW EXECUTE FUNCTION zescrow_usage_claim()""",
]


def upgrade():
    op.create_table(
        "rate_buckets",
        sa.Column("address", sa.String(64), primary_key=True,
                  comment="an IPv4 address or an IPv6 /64"),
        sa.Column("tokens", sa.Float, nullable=False,
                  comment="uploads it may still make at once"),
        sa.Column("updated", sa.Float, nullable=False,
                  comment="Unix time the tokens were counted"),
        sa.Column("taken", sa.Integer, nullable=False, server_default="0",
                  comment="uploads the last commit took from it (the upsert's answer)"))
    op.create_table(
        "quota_usage",
        sa.Column("name", sa.String(32), primary_key=True,
                  comment="'unclaimed': the only row"),
        sa.Column("escrows", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("max_escrows", sa.BigInteger, nullable=False, server_default="0",
                  comment="max_unclaimed_escrows, as the last node to start had it; 0: none"),
        sa.Column("max_bytes", sa.BigInteger, nullable=False, server_default="0",
                  comment="max_unclaimed_bytes, likewise"))
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:  # no upload, claim or purge may slip between the count and the triggers
        op.execute("LOCK TABLE escrows IN SHARE ROW EXCLUSIVE MODE")
    op.execute(UNCLAIMED_NOW)
    for statement in POSTGRESQL if postgres else SQLITE:
        op.execute(statement)


def downgrade():
    for name in ("insert", "delete", "claim"):
        op.execute("DROP TRIGGER IF EXISTS escrows_usage_%s%s" % (
            name, " ON escrows" if op.get_bind().dialect.name == "postgresql" else ""))
        if op.get_bind().dialect.name == "postgresql":
            op.execute("DROP FUNCTION IF EXISTS zescrow_usage_%s()" % name)
    op.drop_table("quota_usage")
    op.drop_table("rate_buckets")
