"""The audit log: uploads, claims, downloads, deletions and admin actions."""

from sqlalchemy import Column, DateTime, Integer, String, Text

from ..db import Base
from ..escrows.models import utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    action = Column(String(32), nullable=False)
    actor = Column(String(255), nullable=False, comment="an identity, 'uploader' or 'admin'")
    escrow_id = Column(String(32), index=True)
    source = Column(String(64), nullable=False, default="", comment="client address")
    detail = Column(Text, nullable=False, default="")
