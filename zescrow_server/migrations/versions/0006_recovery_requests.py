"""Recovery requests in custodians mode, and the custodians' signed decisions.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade():
    op.create_table(
        "recovery_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("escrow_id", sa.String(32), sa.ForeignKey("escrows.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requester_token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("custodian_token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("requester_key", sa.Text),
        sa.Column("requester_fingerprint", sa.String(40)),
        sa.Column("requester_key_ids", sa.String(255)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ready_at", sa.DateTime))
    op.create_table(
        "recovery_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(32),
                  sa.ForeignKey("recovery_requests.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("custodian", sa.String(40), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("share", sa.LargeBinary),
        sa.UniqueConstraint("request_id", "custodian"))


def downgrade():
    op.drop_table("recovery_decisions")
    op.drop_table("recovery_requests")
