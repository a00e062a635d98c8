"""A recovery request (custodians mode) and the custodians' decisions on it."""

from sqlalchemy import (Column, DateTime, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)

from ..db import Base
from ..escrows.models import utcnow

OPEN, READY, DECLINED = "open", "ready", "declined"
CANCELLED = "cancelled"  # the helpdesk request that started it was cancelled by an admin
APPROVE, DECLINE = "approve", "decline"


class RecoveryRequest(Base):
    __tablename__ = "recovery_requests"

    id = Column(String(32), primary_key=True)
    escrow_id = Column(String(32), ForeignKey("escrows.id", ondelete="CASCADE"),
                       nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    requested_by = Column(String(255), nullable=False, comment="the owner's display name")
    reason = Column(Text, nullable=False)
    # Two capabilities, only their hashes kept: the requesting machine's
    # (zescrowctl recover --request) and the custodians' (custodian approve).
    requester_token_hash = Column(String(64), nullable=False, unique=True)
    custodian_token_hash = Column(String(64), nullable=False, unique=True)
    requester_key = Column(Text, comment="the requester's ephemeral public key, armored")
    requester_fingerprint = Column(String(40))
    requester_key_ids = Column(String(255), comment="its encryption key IDs, space-separated")
    state = Column(String(16), nullable=False, default=OPEN)
    ready_at = Column(DateTime)

    def current_state(self, now=None):
        if self.state == OPEN and (now or utcnow()) >= self.expires_at:
            return "expired"
        return self.state


class CustodianDecision(Base):
    __tablename__ = "recovery_decisions"
    __table_args__ = (UniqueConstraint("request_id", "custodian"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    request_id = Column(String(32), ForeignKey("recovery_requests.id", ondelete="CASCADE"),
                        nullable=False, index=True)
    custodian = Column(String(40), nullable=False, comment="the custodian's fingerprint")
    decision = Column(String(8), nullable=False)
    reason = Column(Text, nullable=False, default="")
    at = Column(DateTime, nullable=False, default=utcnow)
    statement = Column(Text, nullable=False, comment="what the custodian signed")
    signature = Column(Text, nullable=False, comment="their detached signature, armored")
    share = Column(LargeBinary, comment="the share, re-encrypted to the requester's key")
