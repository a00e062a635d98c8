"""zescrow-server admin: list escrows, purge expired ones, export the audit log, revoke sessions.

What came from outside (a provider's name for its user, an uploader's
host and user name) goes to the admin's terminal only through
`printable`: an escape sequence there could retitle the terminal or hide
what came before it.
"""

import json

from pam_zescrow.printable import printable

from .. import config, db
from . import datadir
from .command import Command

def run(args):
    datadir.check_made(args.data_dir)
    settings = config.load(args.data_dir)
    sessions = db.make_sessionmaker(db.make_engine(settings.db_url))
    with sessions() as session:
        if args.action == "revoke-sessions":
            _revoke(session, args.who, args.provider)
        else:
            {"list": _list, "purge-expired": _purge, "export-audit": _export}[args.action](
                session)
    return 0


def _list(session):
    from sqlalchemy import select

    from ..escrows.models import Escrow

    for e in session.scalars(select(Escrow).order_by(Escrow.created_at)):
        owner = "%s:%s" % (e.owner_provider or "?", e.owner_display) if e.claimed_at else "-"
        print("%s  %s  %-9s  %-8s  %s@%s  %s" % (
            e.id, e.created_at.strftime("%Y-%m-%d %H:%M"), e.state(), e.verification,
            printable(e.username or "?"), printable(e.host or "?"), printable(owner)))


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


def _revoke(session, who, provider):
    from ..auth import sessions

    revoked = sessions.revoke_all(session, who, provider)
    if not revoked:
        print("no open sessions of %s%s" % (printable(who), " at " + printable(provider)
                                             if provider else ""))
    for name, subject, display, count in revoked:
        print("revoked %d session%s of %s at %s (subject %s)" % (
            count, "" if count == 1 else "s", printable(display), printable(name),
            printable(subject)))


def add_arguments(p):
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every escrow: id, time, state, verification, user@host, "
                       "owner (provider:name)")
    actions.add_parser("purge-expired", help="delete unclaimed escrows whose claim window is "
                       "over")
    actions.add_parser("export-audit", help="print the audit log as JSON lines")
    revoke = actions.add_parser("revoke-sessions", help="sign a user out everywhere: revoke "
                                "every open session of theirs")
    revoke.add_argument("who", metavar="WHO", help="the user: an email address, a name or a "
                        "subject, as the provider gave it")
    revoke.add_argument("--provider", help="only the user of this provider (its name in the "
                        "settings)")


command = Command("admin", "list, purge-expired, export-audit, revoke-sessions WHO",
                  add_arguments, run)
