"""Helpdesk requests after their review (issue #13): who asked and who decided are a
subject *of an issuer*, a pending request expires unanswered, and an approval names
the `admins` entry that let its approver decide (taken off the list, the approval
can no longer be used).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade():
    with op.batch_alter_table("helpdesk_requests") as table:
        table.add_column(sa.Column("requester_issuer", sa.String(255)))
        table.add_column(sa.Column("pending_until", sa.DateTime))
        table.add_column(sa.Column("decider_issuer", sa.String(255)))
        table.add_column(sa.Column("decider_rule", sa.String(255)))


def downgrade():
    with op.batch_alter_table("helpdesk_requests") as table:
        for name in ("decider_rule", "decider_issuer", "pending_until", "requester_issuer"):
            table.drop_column(name)
