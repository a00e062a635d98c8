"""A user's coverage states, worst first, as the page and `admin coverage` list them.

Apart from models.py so that `admin coverage` (coverage/readout.py) can name
them without importing SQLAlchemy."""

VERIFIED, STALE, FAILED, MISSING, PENDING = "verified", "stale", "failed", "missing", "pending"
STATES = (MISSING, FAILED, STALE, PENDING, VERIFIED)
