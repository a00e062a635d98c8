"""zescrow-server admin: list escrows, purge expired ones, export the audit log, revoke
sessions, enrolment tokens and hosts, cancel helpdesk requests, and show coverage.

What came from outside (a provider's name for its user, an uploader's
host and user name) goes to the admin's terminal only through
`printable`: an escape sequence there could retitle the terminal or hide
what came before it.
"""

import json

from pam_zescrow.printable import printable

from .. import config
from . import datadir
from .command import Command

def run(args):
    datadir.check_made(args.data_dir)
    settings = config.load(args.data_dir)
    if args.action == "coverage":
        return _coverage(settings, args) or 0
    from .. import db  # here: SQLAlchemy's import costs what `admin coverage` may not

    sessions = db.make_sessionmaker(db.make_engine(settings.db_url))
    with sessions() as session:
        if args.action == "revoke-sessions":
            _revoke(session, args.who, args.provider)
        elif args.action == "enrol-token":
            _enrol_token(session, args)
        elif args.action == "host":
            _host(session, args)
        elif args.action == "helpdesk":
            _helpdesk(session, settings, args)
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


def _enrol_token(session, args):
    from ..errors import AdminTargetUnknown
    from ..hosts import service

    if args.token_action == "create":
        row, token = service.create_token(session, args.label, args.uses,
                                          _days(args.expires))
        print("enrolment token %s (%s): %d use%s, expires %s UTC\n%s\n"
              "Enrol a machine with (as root): zescrowctl setup URL --system --token %s"
              % (row.id, printable(row.label), row.uses_left, "" if row.uses_left == 1 else "s",
                 row.expires_at.strftime("%Y-%m-%d %H:%M"), token, token))
    elif args.token_action == "list":
        for row in service.tokens(session):
            state = "revoked" if row.revoked_at else ("expired" if row.expires_at <=
                                                      _now() else "active")
            print("%s  %-7s  %3d uses left  expires %s  %s" % (
                row.id, state, row.uses_left, row.expires_at.strftime("%Y-%m-%d %H:%M"),
                printable(row.label)))
    elif service.revoke_token(session, args.id) is None:
        raise AdminTargetUnknown(what="enrolment token", ident=args.id,
                                 listing="enrol-token list")
    else:
        print("revoked enrolment token %s: no machine can enrol with it any more" % args.id)


def _host(session, args):
    from ..errors import AdminTargetUnknown
    from ..hosts import service

    if args.host_action == "list":
        for host in service.hosts(session):
            print("%s  %-7s  enrolled %s  token %s  %s" % (
                host.id, "revoked" if host.revoked_at else "active",
                host.enrolled_at.strftime("%Y-%m-%d %H:%M"), host.token_id,
                printable(host.name)))
    elif service.revoke_host(session, args.id) is None:
        raise AdminTargetUnknown(what="host", ident=args.id, listing="host list")
    else:
        print("revoked host %s: its uploads and reports are refused from now on" % args.id)


def _helpdesk(session, settings, args):
    """The helpdesk's requests: list them; cancel one (its approval can no longer be
    used, the owner is mailed)."""
    from ..errors import AdminArgumentInvalid, AdminTargetUnknown
    from ..escrows.models import Escrow
    from ..helpdesk import notices, service

    if args.helpdesk_action == "list":
        for row in service.listed(session, limit=1000):
            print("%s %-9s %s escrow %s asked by %s: %s" % (
                row.id, row.current_state(), row.created_at.strftime("%Y-%m-%d %H:%M"),
                row.escrow_id, printable(row.requester_display),
                printable(row.reason)[:80]))
        return
    try:
        reason = service.clean_reason(args.reason, "the owner is mailed it")
    except service.ReasonRequired as err:
        raise AdminArgumentInvalid(argument="--reason", value=args.reason[:40],
                                   reason=err.message,
                                   example='--reason "ticket 4711: not authorised"') from None
    # As printed by `helpdesk list` and the pages: lower-case hex (an upper-case copy
    # must not look like "no such request" to an admin who means to stop one).
    row, cancelled, stopped = service.cancel(session, args.id.strip().lower(), reason)
    if row is None:
        raise AdminTargetUnknown(what="helpdesk request", ident=args.id,
                                 listing="helpdesk list")
    if not cancelled:
        print("helpdesk request %s was cancelled already, at %s UTC: %s" % (
            row.id, row.cancelled_at.strftime("%Y-%m-%d %H:%M") if row.cancelled_at else "?",
            printable(row.cancel_reason or "")))
        return
    escrow = session.get(Escrow, row.escrow_id)
    mailed = notices.cancelled(settings, escrow, row, stopped) if escrow is not None else []
    print("cancelled helpdesk request %s: its approval can no longer be used%s%s%s" % (
        row.id, "; the custodians' request %s it started was stopped (no shares leave from "
        "now on)" % row.recovery_request_id if stopped else "",
        "; the key had left already (exposed %s UTC): the owner must re-key"
        % escrow.exposed_at.strftime("%Y-%m-%d %H:%M") if escrow is not None and
        escrow.exposed_at else "",
        "; mailed the owner at %s" % mailed[0] if mailed else ""))


def _coverage(settings, args):
    """A summary and the users that need attention; --csv: every row, for a spreadsheet.
    Through the database's driver, not SQLAlchemy: its import alone is 150 ms
    (coverage/readout.py)."""
    import csv
    import sys

    from ..coverage import readout
    from ..coverage.states import VERIFIED

    conn = readout.connect(settings.db_url)
    if args.csv:
        out = csv.writer(sys.stdout)
        out.writerow(readout.COLUMNS)
        for row in readout.rows(conn, state=args.state, limit=None):
            # A leading = + - @ would be a formula to a spreadsheet: quote it as text.
            out.writerow([_cell(row[k]) for k in readout.COLUMNS])
        return
    summary = readout.summary(conn)
    print("%d enrolled host%s; %d not heard from in 2 days. Users: %s" % (
        summary["hosts"], "" if summary["hosts"] == 1 else "s", summary["silent"],
        ", ".join("%d %s" % (n, state) for state, n in summary["states"].items())))
    states = [args.state] if args.state else [s for s in summary["states"] if s != VERIFIED]
    for state in states:
        for row in readout.rows(conn, state=state, limit=args.limit):
            print("%-9s %s %-20s %-16s %s" % (row["state"], row["host"],
                                              printable(row["host_name"])[:20],
                                              printable(row["user"])[:16],
                                              printable(row["reason"])))
    for host in readout.silent_hosts(conn, limit=args.limit):
        print("silent    %s %-20s last report: %s" % (
            host["id"], printable(host["name"])[:20],
            host["last_report_at"].strftime("%Y-%m-%d %H:%M") if host["last_report_at"]
            else "never"))


def _cell(value):
    text = printable(value or "")
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _days(text):
    """'7d', '12h', '30m' → days (a float)."""
    import re

    from ..errors import AdminArgumentInvalid

    m = re.fullmatch(r"(\d{1,4})([dhm])", text or "")
    days = int(m.group(1)) / {"d": 1, "h": 24, "m": 1440}[m.group(2)] if m else 0
    if not 0 < days <= 366:
        raise AdminArgumentInvalid(argument="--expires", value=text, reason="it is not a "
                                   "time from 1m to 366d", example="e.g. --expires 7d, 12h or "
                                   "30m")
    return days


def _now():
    from ..escrows.models import utcnow

    return utcnow()


def _positive(text):
    import argparse

    if not text.isdigit() or not 1 <= int(text) <= 100000:
        raise argparse.ArgumentTypeError("give a number of uses from 1 to 100000")
    return int(text)


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
    token = actions.add_parser("enrol-token", help="enrolment tokens for machines: create, "
                               "list, revoke")
    token_actions = token.add_subparsers(dest="token_action", metavar="create|list|revoke",
                                         required=True)
    create = token_actions.add_parser("create", help="a token that enrols up to --uses "
                                      "machines until --expires (shown once)")
    create.add_argument("--label", required=True, help="what it is for, e.g. 'lab 2, 2027'")
    create.add_argument("--uses", type=_positive, default=1, help="how many machines (1)")
    create.add_argument("--expires", default="7d", help="how long it works: 7d, 12h, 30m (7d)")
    token_actions.add_parser("list", help="every token: id, state, uses left, expiry, label")
    token_revoke = token_actions.add_parser("revoke", help="no more machines enrol with it")
    token_revoke.add_argument("id", metavar="ID")
    host = actions.add_parser("host", help="enrolled machines: list, revoke")
    host_actions = host.add_subparsers(dest="host_action", metavar="list|revoke", required=True)
    host_actions.add_parser("list", help="every enrolled machine: id, state, when, token, name")
    host_revoke = host_actions.add_parser("revoke", help="refuse its uploads from now on")
    host_revoke.add_argument("id", metavar="ID")
    helpdesk = actions.add_parser("helpdesk", help="the helpdesk's recovery requests: "
                                  "list, cancel")
    helpdesk_actions = helpdesk.add_subparsers(dest="helpdesk_action", metavar="list|cancel",
                                               required=True)
    helpdesk_actions.add_parser("list", help="every request: id, state, when, escrow, who "
                                "asked, why")
    helpdesk_cancel = helpdesk_actions.add_parser(
        "cancel", help="stop a request, pending or approved: its approval can no longer be "
        "used; the owner is mailed")
    helpdesk_cancel.add_argument("id", metavar="ID")
    helpdesk_cancel.add_argument("--reason", required=True, help="why, for the owner and "
                                 "the audit log")
    coverage = actions.add_parser("coverage", help="which users of the enrolled machines "
                                  "have a verified escrow: a summary and who needs attention")
    coverage.add_argument("--state", choices=("verified", "pending", "stale", "failed",
                                              "missing"), help="only the users in this state")
    coverage.add_argument("--limit", type=_positive, default=50,
                          help="at most this many users per state (50)")
    coverage.add_argument("--csv", action="store_true",
                          help="every user of every host as CSV (with --state: those only)")


command = Command("admin", "list, purge-expired, export-audit, revoke-sessions WHO, "
                  "enrol-token create|list|revoke, host list|revoke, helpdesk list|cancel, "
                  "coverage",
                  add_arguments, run)
