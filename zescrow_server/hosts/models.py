"""Enrolment (issue #13): the tokens an admin hands out, and the machines enrolled with them."""

from sqlalchemy import Column, DateTime, Index, Integer, String, Text

from ..db import Base
from ..escrows.models import utcnow


class EnrolToken(Base):
    __tablename__ = "enrol_tokens"

    id = Column(String(16), primary_key=True)
    label = Column(String(255), nullable=False)
    token_hash = Column(String(64), nullable=False, unique=True, comment="only the hash (S5)")
    uses_left = Column(Integer, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    revoked_at = Column(DateTime)


class Host(Base):
    __tablename__ = "hosts"

    id = Column(String(16), primary_key=True)
    name = Column(String(255), nullable=False)
    public_key = Column(Text, nullable=False, comment="base64 DER, ECDSA P-256")
    token_id = Column(String(16), nullable=False)
    enrolled_at = Column(DateTime, nullable=False, default=utcnow)
    source = Column(String(64), nullable=False, default="")
    revoked_at = Column(DateTime)
    last_report_at = Column(DateTime, comment="the server's clock when its last report came")
    last_report_time = Column(DateTime, comment="that report's own time: a replay is older")

    # The coverage summary's counts of live and silent hosts (coverage/readout.py).
    __table_args__ = (Index("ix_hosts_live_report", "revoked_at", "last_report_at"),)
