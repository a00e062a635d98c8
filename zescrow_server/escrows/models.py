"""An escrow: one sealed archive as received, who may claim it, who owns it.

Written with Column(), which SQLAlchemy 1.4 (Debian 12's) and 2.x both
take, so that the server runs on Debian's packages as well as on a newer
stack from PyPI.
"""

import datetime as dt

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, String, Text

from ..db import Base

PENDING, RUNNING, VERIFIED, FAILED = "pending", "running", "verified", "failed"
# Custodians mode: the server cannot open the escrow; the client verified it
# against Private.sig before sealing. The verifier never takes such a row.
CLIENT_CHECKED = "client-checked"


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Escrow(Base):
    __tablename__ = "escrows"

    id = Column(String(32), primary_key=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    sealed = Column(LargeBinary, nullable=False, comment="the bytes as received (S8)")
    sha256 = Column(String(64), nullable=False)
    size = Column(Integer, nullable=False)
    host = Column(String(255), nullable=False, default="")
    username = Column(String(255), nullable=False, default="")
    client_version = Column(String(64), nullable=False, default="")
    # Only hashes of the tokens: a database leak must not let anyone claim (S5).
    claim_token_hash = Column(String(64), unique=True)
    upload_token_hash = Column(String(64), nullable=False)
    claim_expires_at = Column(DateTime, nullable=False)
    claimed_at = Column(DateTime)
    # The owner: a subject of one configured provider (its name, and the issuer
    # configured for it, which the ID token's iss matched).
    owner_provider = Column(String(255))
    owner_issuer = Column(String(255))
    owner_subject = Column(String(255))
    owner_display = Column(String(255))
    owner_email = Column(String(255))
    verification = Column(String(16), nullable=False, default=PENDING)
    verification_error = Column(Text)
    verification_lease_until = Column(
        DateTime, comment="a worker's claim on a running verification; past it, retaken")
    verification_attempts = Column(
        Integer, nullable=False, default=0, server_default="0",
        comment="how often a worker took it; at 3 with the lease over, it is failed")
    key_signature = Column(String(16))
    legacy_md5 = Column(String(32))
    # The enrolled host whose voucher came with the upload (coverage checks that a
    # host reports only its own users' escrows), and the helpdesk's recovery of it.
    host_id = Column(String(16))
    exposed_at = Column(DateTime, comment="a helpdesk download: the key is no longer secret")
    exposed_reason = Column(Text)
    # Server mode: the decide step's digest of the setup inside, worked out by the
    # verifier from the archive itself; coverage compares a host's word with it.
    setup_digest = Column(String(64))

    __table_args__ = (
        Index("ix_escrows_owner", "owner_provider", "owner_subject"),
        Index("ix_escrows_verification_created", "verification", "created_at"),
        Index("ix_escrows_claim_expires_at", "claim_expires_at"),
    )

    def state(self, now=None):
        if self.claimed_at is not None:
            return "claimed"
        return "expired" if (now or utcnow()) >= self.claim_expires_at else "unclaimed"
