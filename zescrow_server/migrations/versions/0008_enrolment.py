"""Enrolment: tokens an admin hands out, and the hosts enrolled with them (issue #13).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade():
    op.create_table(
        "enrol_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("uses_left", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime))
    op.create_table(
        "hosts",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("token_id", sa.String(16), nullable=False),
        sa.Column("enrolled_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime))


def downgrade():
    op.drop_table("hosts")
    op.drop_table("enrol_tokens")
