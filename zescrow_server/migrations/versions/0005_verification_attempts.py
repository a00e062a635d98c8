"""Count the attempts to verify each escrow, so that a row that kills its worker settles.

A worker that dies while checking a row (an archive that exhausts its
memory, say) leaves it "running"; once its lease is over it was taken
again, for ever, every 20 s. Each take now counts, and a row whose lease
ran out after MAX_ATTEMPTS takes is failed with the reason
(escrows/verification.py). Existing rows start at 0.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade():
    op.add_column("escrows", sa.Column(
        "verification_attempts", sa.Integer, nullable=False, server_default="0",
        comment="how often a worker took it; at 3 with the lease over, it is failed"))


def downgrade():
    # A plain DROP COLUMN (SQLite >= 3.35): batch mode would copy the table and
    # lose the quota triggers of 0004.
    op.drop_column("escrows", "verification_attempts")
