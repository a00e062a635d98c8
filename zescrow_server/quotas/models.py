"""Quotas kept in the database, so that they hold across processes and nodes.

rate_buckets: one token bucket per client address (an IPv6 client: per /64),
taken from by every node's upload writer as it commits.
quota_usage: the unclaimed escrows' count and bytes, kept by triggers on
escrows (migration 0004), so that every insert, claim, deletion and purge —
whoever makes it — moves it, and the caps, which the insert trigger holds
every new row to. On PostgreSQL, while the caps are far off, each upload
writer spends from room lent to it instead (quota_leases, migration 0007).
"""

from sqlalchemy import BigInteger, Column, Float, Integer, String

from ..db import Base

UNCLAIMED = "unclaimed"


class RateBucket(Base):
    __tablename__ = "rate_buckets"

    address = Column(String(64), primary_key=True, comment="an IPv4 address or an IPv6 /64")
    tokens = Column(Float, nullable=False, comment="uploads it may still make at once")
    updated = Column(Float, nullable=False, comment="Unix time the tokens were counted")
    taken = Column(Integer, nullable=False, default=0,
                   comment="uploads the last commit took from it (the upsert's answer)")


class QuotaUsage(Base):
    __tablename__ = "quota_usage"

    name = Column(String(32), primary_key=True, comment="'unclaimed': the only row")
    escrows = Column(BigInteger, nullable=False, default=0)
    bytes = Column(BigInteger, nullable=False, default=0)
    max_escrows = Column(BigInteger, nullable=False, default=0,
                         comment="max_unclaimed_escrows, as the last node to start had it; 0: none")
    max_bytes = Column(BigInteger, nullable=False, default=0,
                       comment="max_unclaimed_bytes, likewise")



class QuotaLease(Base):
    """PostgreSQL: room under the caps lent to one upload writer process
    (quotas/leases.py, migration 0007)."""
    __tablename__ = "quota_leases"
    __table_args__ = {"comment": "room under the caps lent to an upload writer (PostgreSQL)"}

    id = Column(String(32), primary_key=True, comment="the writer process's zescrow.quota_lease")
    escrows = Column(BigInteger, nullable=False, comment="lent and not yet spent")
    bytes = Column(BigInteger, nullable=False, comment="likewise")
    until = Column(Float, nullable=False,
                   comment="Unix time the writer renews it; long past it, the sweep takes it back")
