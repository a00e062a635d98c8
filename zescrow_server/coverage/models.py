"""One row per (host, local user with an encrypted home), replaced by each report."""

from sqlalchemy import Column, DateTime, Index, String, Text

from ..db import Base

VERIFIED, STALE, FAILED, MISSING, PENDING = "verified", "stale", "failed", "missing", "pending"
STATES = (MISSING, FAILED, STALE, PENDING, VERIFIED)  # worst first, as the page lists them


class Coverage(Base):
    __tablename__ = "coverage"

    host_id = Column(String(16), primary_key=True)
    username = Column(String(255), primary_key=True)
    digest = Column(String(64), comment="the setup's escrow digest now (no secret)")
    escrowed_digest = Column(String(64), comment="that of the last escrow the server took")
    escrow_id = Column(String(32))
    client_error = Column(String(64), comment="the machine's last error code, if newer")
    client_error_at = Column(DateTime)
    # Worked out when the report comes and again when its escrow changes (verified,
    # failed, deleted): the page and `admin coverage` only read it.
    state = Column(String(16), nullable=False)
    reason = Column(Text, nullable=False)
    reported_at = Column(DateTime, nullable=False)

    __table_args__ = (
        Index("ix_coverage_state", "state", "host_id"),
        Index("ix_coverage_escrow", "escrow_id"),
    )
