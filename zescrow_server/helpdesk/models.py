"""A helpdesk request to recover someone else's escrow, and the admin's decision on it."""

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Text

from ..db import Base
from ..escrows.models import utcnow

PENDING, APPROVED, DECLINED = "pending", "approved", "declined"
EXPIRED = "expired"  # an approval past its window, or a request unanswered past its own:
#                     computed, never stored
CANCELLED = "cancelled"  # by an admin (zescrow-server admin helpdesk cancel): never usable


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
    requester_issuer = Column(String(255), comment="None: asked before 0011")
    requester_subject = Column(String(255), nullable=False)
    requester_display = Column(String(255), nullable=False)
    requester_email = Column(String(255))
    state = Column(String(16), nullable=False, default=PENDING)
    pending_until = Column(DateTime, comment="helpdesk_pending_hours after the request")
    decided_at = Column(DateTime)
    decider_provider = Column(String(255))
    decider_issuer = Column(String(255))
    decider_subject = Column(String(255))
    decider_display = Column(String(255))
    decision_reason = Column(Text)
    # The `admins` entry that made the decider an admin: once the settings no longer
    # list it, the approval can no longer be used (roles.py reads them at each request).
    decider_rule = Column(String(255))
    approved_until = Column(DateTime, comment="helpdesk_approval_hours after the approval")
    cancelled_at = Column(DateTime, comment="zescrow-server admin helpdesk cancel")
    cancel_reason = Column(Text)
    used_at = Column(DateTime, comment="the first download, or the custodians' request started")
    recovery_request_id = Column(String(32), comment="custodians mode: the request it started")

    __table_args__ = (Index("ix_helpdesk_requests_state", "state", "created_at"),
                      Index("ix_helpdesk_requests_recovery", "recovery_request_id"))

    def current_state(self, now=None):
        now = now or utcnow()
        if self.state == APPROVED and now >= self.approved_until:
            return EXPIRED
        if self.state == PENDING and self.pending_until is not None and \
                now >= self.pending_until:
            return EXPIRED
        return self.state

    def asked_by(self, who):
        """The same subject of the same issuer: a provider's name in the settings may later
        point at another issuer, whose subjects are other people, and two entries may name
        one issuer (two clients), whose subject is one person. Rows from before the issuer
        was kept: the same subject of the same provider entry."""
        if self.requester_issuer is not None and who.get("iss"):
            # Logins accept an issuer with or without its trailing slash (auth/routes.py).
            return (who["iss"].rstrip("/"), who.get("sub")) == (
                self.requester_issuer.rstrip("/"), self.requester_subject)
        return (who.get("provider"), who.get("sub")) == (self.requester_provider,
                                                          self.requester_subject)
