"""An escrow: one sealed archive as received, who may claim it, who owns it."""

import datetime as dt

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base

PENDING, RUNNING, VERIFIED, FAILED = "pending", "running", "verified", "failed"


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Escrow(Base):
    __tablename__ = "escrows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sealed: Mapped[bytes] = mapped_column(LargeBinary, comment="the bytes as received (S8)")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255), default="")
    username: Mapped[str] = mapped_column(String(255), default="")
    client_version: Mapped[str] = mapped_column(String(64), default="")
    # Only hashes of the tokens: a database leak must not let anyone claim (S5).
    claim_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    upload_token_hash: Mapped[str] = mapped_column(String(64))
    claim_expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    owner_issuer: Mapped[str | None] = mapped_column(String(255))
    owner_subject: Mapped[str | None] = mapped_column(String(255))
    owner_display: Mapped[str | None] = mapped_column(String(255))
    owner_email: Mapped[str | None] = mapped_column(String(255))
    verification: Mapped[str] = mapped_column(String(16), default=PENDING)
    verification_error: Mapped[str | None] = mapped_column(Text)
    verification_lease_until: Mapped[dt.datetime | None] = mapped_column(
        DateTime, comment="a worker's claim on a running verification; past it, retaken")
    key_signature: Mapped[str | None] = mapped_column(String(16))
    legacy_md5: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_escrows_owner", "owner_issuer", "owner_subject"),
        Index("ix_escrows_verification_created", "verification", "created_at"),
        Index("ix_escrows_claim_expires_at", "claim_expires_at"),
    )

    def state(self, now=None):
        if self.claimed_at is not None:
            return "claimed"
        return "expired" if (now or utcnow()) >= self.claim_expires_at else "unclaimed"
