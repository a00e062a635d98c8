"""Owners belong to a configured provider; login sessions are kept to be revocable.

An owner was (issuer, subject), the issuer being whatever the provider's
own discovery document claimed: a second provider naming the first's
issuer could sign in as its users. Now the owner is (provider name,
issuer, subject), the issuer checked against the one configured for that
provider. Existing owners get their provider from `zescrow-server init`,
which knows the settings (escrows.service.bind_owners: the one provider
configured with their issuer); until then they are nobody's.

login_sessions: one row per login, so that logout and the admin can
revoke a signed cookie.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    op.add_column("escrows", sa.Column("owner_provider", sa.String(255)))
    op.drop_index("ix_escrows_owner", table_name="escrows")
    op.create_index("ix_escrows_owner", "escrows", ["owner_provider", "owner_subject"])
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(64), primary_key=True,
                  comment="sha256 of the token in the cookie"),
        sa.Column("provider", sa.String(255), nullable=False,
                  comment="the configured provider's name"),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("display", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_index("ix_login_sessions_identity", "login_sessions", ["provider", "subject"])
    op.create_index("ix_login_sessions_expires_at", "login_sessions", ["expires_at"])


def downgrade():
    op.drop_table("login_sessions")
    op.drop_index("ix_escrows_owner", table_name="escrows")
    op.drop_column("escrows", "owner_provider")
    op.create_index("ix_escrows_owner", "escrows", ["owner_issuer", "owner_subject"])
