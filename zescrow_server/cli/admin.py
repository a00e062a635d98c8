"""zescrow-server admin: list escrows, purge expired ones, export the audit log."""

import json

from .. import config, db
from . import datadir
from .command import Command

ACTIONS = ("list", "purge-expired", "export-audit")


def run(args):
    datadir.check_made(args.data_dir)
    settings = config.load(args.data_dir)
    sessions = db.make_sessionmaker(db.make_engine(settings.db_url))
    with sessions() as session:
        {"list": _list, "purge-expired": _purge, "export-audit": _export}[args.action](session)
    return 0


def _list(session):
    from sqlalchemy import select

    from ..escrows.models import Escrow

    for e in session.scalars(select(Escrow).order_by(Escrow.created_at)):
        print("%s  %s  %-9s  %-8s  %s@%s  %s" % (
            e.id, e.created_at.strftime("%Y-%m-%d %H:%M"), e.state(), e.verification,
            e.username or "?", e.host or "?", e.owner_display or "-"))


def _purge(session):
    from ..escrows import service

    ids = service.purge_expired(session, actor="admin")
    print("purged %d expired unclaimed escrows" % len(ids))


def _export(session):
    from ..audit import service as audit

    events = list(audit.export(session))
    # Recorded even when the reader stops early (`| head`): it has read the log.
    audit.record(session, "audit-export", "admin")
    session.commit()
    for event in events:
        print(json.dumps(event, sort_keys=True))


def add_arguments(p):
    p.add_argument("action", choices=ACTIONS)


command = Command("admin", "list, purge-expired, export-audit", add_arguments, run)
