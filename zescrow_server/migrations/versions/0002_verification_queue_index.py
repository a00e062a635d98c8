"""Index the verification queue by (verification, created_at).

The worker takes the oldest pending escrows; with an index on the state
alone, every take sorted all pending rows (70,000 after a minute of
uploads at full rate), which held verification to ~23/s in bench/server.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.drop_index("ix_escrows_verification", table_name="escrows")
    op.create_index("ix_escrows_verification_created", "escrows",
                    ["verification", "created_at"])


def downgrade():
    op.drop_index("ix_escrows_verification_created", table_name="escrows")
    op.create_index("ix_escrows_verification", "escrows", ["verification"])
