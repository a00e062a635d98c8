"""Helpdesk requests after their review (issue #13): who asked and who decided are a
subject *of an issuer*, a pending request expires unanswered, and an approval names
the `admins` entry that let its approver decide (taken off the list, the approval
can no longer be used), and an admin's cancel has its own time and reason.

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
        table.add_column(sa.Column("cancelled_at", sa.DateTime))
        table.add_column(sa.Column("cancel_reason", sa.Text))
    # A request still pending from before expires as a new one would (168 hours, the
    # default of helpdesk_pending_hours), rather than never.
    later = "datetime(created_at, '+168 hours')" if op.get_bind().dialect.name == "sqlite" \
        else "created_at + interval '168 hours'"
    op.execute("UPDATE helpdesk_requests SET pending_until = %s WHERE state = 'pending'"
               % later)


def downgrade():
    with op.batch_alter_table("helpdesk_requests") as table:
        for name in ("cancel_reason", "cancelled_at", "decider_rule", "decider_issuer",
                     "pending_until", "requester_issuer"):
            table.drop_column(name)
