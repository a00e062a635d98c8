"""The escrows and the audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "escrows",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False, comment="the bytes as received (S8)"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("client_version", sa.String(64), nullable=False),
        sa.Column("claim_token_hash", sa.String(64), unique=True),
        sa.Column("upload_token_hash", sa.String(64), nullable=False),
        sa.Column("claim_expires_at", sa.DateTime, nullable=False),
        sa.Column("claimed_at", sa.DateTime),
        sa.Column("owner_issuer", sa.String(255)),
        sa.Column("owner_subject", sa.String(255)),
        sa.Column("owner_display", sa.String(255)),
        sa.Column("owner_email", sa.String(255)),
        sa.Column("verification", sa.String(16), nullable=False),
        sa.Column("verification_error", sa.Text),
        sa.Column("verification_lease_until", sa.DateTime,
                  comment="a worker's claim on a running verification; past it, retaken"),
        sa.Column("key_signature", sa.String(16)),
        sa.Column("legacy_md5", sa.String(32)),
    )
    op.create_index("ix_escrows_owner", "escrows", ["owner_issuer", "owner_subject"])
    op.create_index("ix_escrows_verification", "escrows", ["verification"])
    op.create_index("ix_escrows_claim_expires_at", "escrows", ["claim_expires_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False, comment="an identity, 'uploader' or 'admin'"),
        sa.Column("escrow_id", sa.String(32)),
        sa.Column("source", sa.String(64), nullable=False, comment="client address"),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_escrow_id", "audit_events", ["escrow_id"])


def downgrade():
    op.drop_table("audit_events")
    op.drop_table("escrows")
