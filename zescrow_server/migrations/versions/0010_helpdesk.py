"""Helpdesk recovery with two-person approval (issue #13): a helpdesk member's request
to recover someone's escrow, with a reason, and an admin's decision on it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade():
    op.create_table(
        "helpdesk_requests",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("escrow_id", sa.String(32), sa.ForeignKey("escrows.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requester_provider", sa.String(255), nullable=False),
        sa.Column("requester_subject", sa.String(255), nullable=False),
        sa.Column("requester_display", sa.String(255), nullable=False),
        sa.Column("requester_email", sa.String(255)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("decider_provider", sa.String(255)),
        sa.Column("decider_subject", sa.String(255)),
        sa.Column("decider_display", sa.String(255)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("approved_until", sa.DateTime),
        sa.Column("used_at", sa.DateTime),
        sa.Column("recovery_request_id", sa.String(32)))
    op.create_index("ix_helpdesk_requests_state", "helpdesk_requests", ["state", "created_at"])
    op.create_index("ix_helpdesk_requests_recovery", "helpdesk_requests",
                    ["recovery_request_id"])


def downgrade():
    op.drop_index("ix_helpdesk_requests_recovery", "helpdesk_requests")
    op.drop_index("ix_helpdesk_requests_state", "helpdesk_requests")
    op.drop_table("helpdesk_requests")
