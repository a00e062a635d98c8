"""Login sessions, kept in the database so that they can be revoked.

The session cookie is signed, so the server cannot take it back; it
carries a session token, whose hash is a row here. Logout and
`zescrow-server admin revoke-sessions` mark rows revoked, and every
request checks its row: in the database, so that every server node
behind a load balancer sees a revocation at once.
"""

from sqlalchemy import Column, DateTime, Index, String

from ..db import Base


class LoginSession(Base):
    __tablename__ = "login_sessions"

    id = Column(String(64), primary_key=True, comment="sha256 of the token in the cookie")
    provider = Column(String(255), nullable=False, comment="the configured provider's name")
    issuer = Column(String(255), nullable=False)
    subject = Column(String(255), nullable=False)
    display = Column(String(255), nullable=False)
    email = Column(String(255))
    created_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    revoked_at = Column(DateTime)

    __table_args__ = (
        Index("ix_login_sessions_identity", "provider", "subject"),
        Index("ix_login_sessions_expires_at", "expires_at"),
    )
