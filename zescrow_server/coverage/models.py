"""One row per (host, local user with an encrypted home), as its host's last report says."""

from sqlalchemy import Column, DateTime, Index, String, Text

from ..db import Base
from .states import FAILED, MISSING, PENDING, STALE, STATES, VERIFIED  # noqa: F401


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
    # When it was reported is the host's last_report_at: a report that changes
    # nothing of a user rewrites nothing of theirs (coverage/writer.py).

    __table_args__ = (
        Index("ix_coverage_state", "state", "host_id", "username"),  # each state in page order
        Index("ix_coverage_escrow", "escrow_id"),
    )
