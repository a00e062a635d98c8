"""A helpdesk request to recover someone else's escrow, and the admin's decision on it."""

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Text

from ..db import Base
from ..escrows.models import utcnow

PENDING, APPROVED, DECLINED = "pending", "approved", "declined"
EXPIRED = "expired"  # an approval past its window: computed, never stored


class HelpdeskRequest(Base):
    __tablename__ = "helpdesk_requests"

    id = Column(String(16), primary_key=True)
    escrow_id = Column(String(32), ForeignKey("escrows.id", ondelete="CASCADE"),
                       nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    reason = Column(Text, nullable=False)
    # Who asked and who decided: a subject of one configured provider, as for owners.
    # Only the requester may use an approval; the decider must be someone else.
    requester_provider = Column(String(255), nullable=False)
    requester_subject = Column(String(255), nullable=False)
    requester_display = Column(String(255), nullable=False)
    requester_email = Column(String(255))
    state = Column(String(16), nullable=False, default=PENDING)
    decided_at = Column(DateTime)
    decider_provider = Column(String(255))
    decider_subject = Column(String(255))
    decider_display = Column(String(255))
    decision_reason = Column(Text)
    approved_until = Column(DateTime, comment="helpdesk_approval_hours after the approval")
    used_at = Column(DateTime, comment="the first download, or the custodians' request started")
    recovery_request_id = Column(String(32), comment="custodians mode: the request it started")

    __table_args__ = (Index("ix_helpdesk_requests_state", "state", "created_at"),
                      Index("ix_helpdesk_requests_recovery", "recovery_request_id"))

    def current_state(self, now=None):
        if self.state == APPROVED and (now or utcnow()) >= self.approved_until:
            return EXPIRED
        return self.state

    def asked_by(self, who):
        return (who.get("provider"), who.get("sub")) == (self.requester_provider,
                                                          self.requester_subject)
