"""Writing and exporting audit events, inside the caller's transaction."""

import json

from sqlalchemy import select

from .models import AuditEvent


def record(session, action, actor, escrow_id=None, source="", **detail):
    session.add(AuditEvent(**row(action, actor, escrow_id, source, **detail)))


def row(action, actor, escrow_id=None, source="", **detail):
    """An event's column values (for inserts outside the ORM: the upload writer)."""
    from ..escrows.models import utcnow

    return {"at": utcnow(), "action": action, "actor": actor, "escrow_id": escrow_id,
            "source": source, "detail": json.dumps(detail, sort_keys=True) if detail else ""}


def export(session):
    """Every event, oldest first, as plain dicts (for JSON lines)."""
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        yield {"id": event.id, "at": event.at.isoformat() + "Z", "action": event.action,
               "actor": event.actor, "escrow_id": event.escrow_id, "source": event.source,
               "detail": json.loads(event.detail) if event.detail else {}}
