"""Coverage (issue #13): each enrolled host's report of its users, and which escrow
came from which host; an escrow's exposure (the helpdesk recovered it).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade():
    with op.batch_alter_table("escrows") as batch:
        batch.add_column(sa.Column("host_id", sa.String(16)))
        batch.add_column(sa.Column("exposed_at", sa.DateTime))
        batch.add_column(sa.Column("exposed_reason", sa.Text))
        batch.add_column(sa.Column("setup_digest", sa.String(64)))
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("last_report_at", sa.DateTime))
        batch.add_column(sa.Column("last_report_time", sa.DateTime))
    op.create_index("ix_hosts_live_report", "hosts", ["revoked_at", "last_report_at"])
    op.create_table(
        "coverage",
        sa.Column("host_id", sa.String(16), primary_key=True),
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("digest", sa.String(64)),
        sa.Column("escrowed_digest", sa.String(64)),
        sa.Column("escrow_id", sa.String(32)),
        sa.Column("client_error", sa.String(64)),
        sa.Column("client_error_at", sa.DateTime),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False))
    op.create_index("ix_coverage_state", "coverage", ["state", "host_id", "username"])
    op.create_index("ix_coverage_escrow", "coverage", ["escrow_id"])


def downgrade():
    op.drop_index("ix_coverage_escrow", "coverage")
    op.drop_index("ix_coverage_state", "coverage")
    op.drop_table("coverage")
    op.drop_index("ix_hosts_live_report", "hosts")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("last_report_time")
        batch.drop_column("last_report_at")
    with op.batch_alter_table("escrows") as batch:
        batch.drop_column("setup_digest")
        batch.drop_column("exposed_reason")
        batch.drop_column("exposed_at")
        batch.drop_column("host_id")
