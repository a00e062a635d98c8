"""Helpdesk recovery with two people (issue #13): one asks, another approves.

    find(session, text)                    claimed escrows by id, owner email or user@host
    ask(session, escrow, who, reason, …)   a helpdesk member's request, with a reason; it
                                           may be decided for helpdesk_pending_hours
    decide(session, row, who, …)           an admin other than the requester approves
                                           or declines, once; an approval lasts
                                           helpdesk_approval_hours
    usable(session, row, who, settings, …) the requester's approved, unexpired request,
                                           its approver still an admin
    cancel(session, request_id, reason)    an admin's stop (zescrow-server admin helpdesk)
    downloaded(session, row, escrow, who)  server mode: the escrow is exposed
    start_custodians(session, row, …)      custodians mode: the approval lets the
                                           requester open the custodians' request
    custodians_ready(session, recovery)    … whose readiness exposes the escrow

Every step, refusals included, is written to the audit log with who (the
identity's name, provider and subject), what, when, from where and why.
Each function commits what it changed with its audit event.
"""

import datetime as dt
import secrets

from sqlalchemy import func, or_, select, update

from .. import roles
from ..audit import service as audit
from ..errors import ApiError
from ..escrows.models import CLIENT_CHECKED, Escrow, utcnow
from ..escrows.service import is_id
from .models import APPROVED, CANCELLED, DECLINED, EXPIRED, PENDING, HelpdeskRequest

MAX_REASON = 1000  # the custodians' request takes as much (zescrow_core.recovery)
MAX_FOUND = 50


class HelpdeskError(ApiError):
    """A refusal the pages show as a sentence: what happened, why, what to do."""
    status, code = 409, "helpdesk-refused"


class SelfApproval(HelpdeskError):
    status, code = 403, "self-approval"


class ApprovalExpired(HelpdeskError):
    status, code = 410, "approval-expired"


class RequestExpired(HelpdeskError):
    status, code = 410, "request-expired"


class ApproverGone(HelpdeskError):
    status, code = 409, "approver-not-admin"


class NotApproved(HelpdeskError):
    status, code = 409, "not-approved"


class NotRequester(HelpdeskError):
    status, code = 403, "not-requester"


class ReasonRequired(HelpdeskError):
    status, code = 400, "reason-required"


class UnknownRequest(HelpdeskError):
    status, code = 404, "not-found"


def find(session, text):
    """Claimed escrows whose id, owner's email or user@host is `text` (newest first)."""
    # Printable only: PostgreSQL refuses a NUL in a string (a 500, not "nothing found").
    text = "".join(c for c in (text or "") if c.isprintable()).strip()[:600]
    if not text:
        return []
    match = [Escrow.id == text.lower()]
    if "@" in text:
        user, _, host = text.rpartition("@")
        match += [func.lower(Escrow.owner_email) == text.lower(),
                  (Escrow.username == user) & (Escrow.host == host)]
    return list(session.scalars(select(Escrow).where(
        Escrow.claimed_at.is_not(None), or_(*match)).order_by(Escrow.created_at.desc())
        .limit(MAX_FOUND)))


def escrow_for_request(session, escrow_id):
    escrow = session.get(Escrow, escrow_id) if is_id(escrow_id) else None
    if escrow is None or escrow.claimed_at is None:
        # An unclaimed escrow has no owner to tell, and its uploader can still claim it.
        raise UnknownRequest("there is no claimed escrow %s: only an escrow its owner claimed "
                             "can be recovered by the helpdesk (its owner is told); search "
                             "again by the owner's email or user@host" % (escrow_id or "")[:40],
                             404, "escrow-not-found")
    return escrow


def ask(session, escrow, who, reason, source, pending_hours):
    reason = clean_reason(reason, "the approver reads it before deciding, and the owner is "
                                  "mailed it")
    now = utcnow()
    row = HelpdeskRequest(
        id=secrets.token_hex(8), escrow_id=escrow.id, created_at=now, reason=reason,
        requester_provider=who["provider"], requester_issuer=who.get("iss"),
        requester_subject=who["sub"], requester_display=who["display"],
        requester_email=_verified_email(who), state=PENDING,
        pending_until=now + dt.timedelta(hours=pending_hours))
    session.add(row)
    _audit(session, "helpdesk-request", who, row, source, reason=reason)
    session.commit()
    return row


def by_id(session, request_id):
    row = session.get(HelpdeskRequest, request_id) if is_id(request_id, 16) else None
    if row is None:
        raise UnknownRequest("there is no helpdesk request %s: it was mistyped, or its escrow "
                             "was deleted; see the list at /helpdesk"
                             % "".join(c for c in str(request_id)[:20] if c.isprintable()))
    return row


def listed(session, limit=100):
    """The latest requests, for the helpdesk's page."""
    return list(session.scalars(select(HelpdeskRequest).order_by(
        HelpdeskRequest.created_at.desc()).limit(limit)))


def decide(session, row, who, approve, reason, settings, source):
    """An admin's decision: refused to the requester, and taken once (a conditional
    UPDATE: of two admins deciding at once, one wins), while the request is pending."""
    email = _verified_email(who)
    if row.asked_by(who) or (email and (row.requester_email or "").lower() == email.lower()):
        raise refused(session, who, row, source, SelfApproval(
            "you asked for this recovery yourself, and the one who asks cannot also approve: "
            "two people must agree before a key is recovered. Ask another admin to decide on "
            "request %s" % row.id))
    reason = clean_reason(reason, "the requester and the owner are told it")
    now = utcnow()
    values = dict(state=APPROVED if approve else DECLINED, decided_at=now,
                  decider_provider=who["provider"], decider_issuer=who.get("iss"),
                  decider_subject=who["sub"], decider_display=who["display"],
                  decider_rule=roles.matching(settings.admins, who), decision_reason=reason,
                  approved_until=now + dt.timedelta(hours=settings.helpdesk_approval_hours)
                  if approve else None)
    taken = session.execute(update(HelpdeskRequest).where(
        HelpdeskRequest.id == row.id, HelpdeskRequest.state == PENDING,
        or_(HelpdeskRequest.pending_until.is_(None), HelpdeskRequest.pending_until > now))
        .values(**values)).rowcount
    if taken != 1:
        session.rollback()
        session.refresh(row)
        if row.current_state(now) == EXPIRED and row.state == PENDING:
            raise refused(session, who, row, source, RequestExpired(
                "request %s was not decided within %d hours of being asked (until %s UTC), "
                "and can no longer be; if the key is still needed, the helpdesk files a new "
                "request" % (row.id, settings.helpdesk_pending_hours,
                             row.pending_until.strftime("%Y-%m-%d %H:%M"))))
        raise refused(session, who, row, source, HelpdeskError(
            "request %s was already %s by %s; a request is decided once: for another "
            "decision, the helpdesk files a new request"
            % (row.id, row.state, "the server's administrator" if row.state == CANCELLED
               else row.decider_display), 409, "already-decided"))
    _audit(session, "helpdesk-" + ("approve" if approve else "decline"), who, row, source,
           reason=reason, requester=row.requester_display,
           approved_until=values["approved_until"].isoformat() + "Z" if approve else None)
    session.commit()
    session.refresh(row)
    return row


def usable(session, row, who, settings, source):
    """Refuse unless `who` asked for `row`, and it is approved, not expired, and its
    approver is still an admin by the same entry of the settings."""
    state = row.current_state()
    hours = settings.helpdesk_approval_hours
    refusal = None
    if not row.asked_by(who):
        refusal = NotRequester("only %s, who asked for request %s, may use its approval; file "
                               "a request of your own" % (row.requester_display, row.id))
    elif state == EXPIRED and row.state == APPROVED:
        refusal = ApprovalExpired(
            "the approval of request %s expired at %s UTC (an approval may be used for %d "
            "hours); file a new request and ask an admin to approve it again"
            % (row.id, row.approved_until.strftime("%Y-%m-%d %H:%M"), hours))
    elif state == EXPIRED:
        refusal = RequestExpired(
            "request %s was not decided within %d hours of being asked; file a new request "
            "if the key is still needed" % (row.id, settings.helpdesk_pending_hours))
    elif state != APPROVED:
        refusal = NotApproved("request %s is %s: %s" % (
            row.id, state, "an admin other than you must approve it first" if state == PENDING
            else "it was %s (%s); file a new request if it is still needed"
            % (state, row.cancel_reason if state == CANCELLED else row.decision_reason)))
    elif row.decider_rule is not None and not roles.listed(settings.admins, row.decider_rule):
        refusal = ApproverGone(
            "request %s was approved by %s as an admin by the entry \"%s\" of the setting "
            "admins, which is no longer there: their approval can no longer be used. Ask a "
            "current admin to decide on a new request" % (row.id, row.decider_display,
                                                           row.decider_rule))
    if refusal is not None:
        raise refused(session, who, row, source, refusal)


def _still_approved(now):
    """The conditions, in the UPDATE that uses an approval, that usable() checked before:
    a cancel or the approval's end in between wins (a conditional UPDATE, not a read)."""
    return (HelpdeskRequest.state == APPROVED, HelpdeskRequest.approved_until > now)


def downloaded(session, row, escrow, who, source):
    """Server mode: the requester takes the archive, if the approval still holds (the
    caller hands it out only then); the escrow is exposed."""
    now = utcnow()
    taken = session.execute(update(HelpdeskRequest).where(
        HelpdeskRequest.id == row.id, *_still_approved(now)).values(
        used_at=func.coalesce(HelpdeskRequest.used_at, now))).rowcount
    if taken != 1:
        session.rollback()
        session.refresh(row)
        raise refused(session, who, row, source, NotApproved(
            "request %s is %s now: it changed as you asked for the key, which was not handed "
            "out; file a new request if it is still needed" % (row.id, row.current_state())))
    _audit(session, "helpdesk-download", who, row, source, reason=row.reason,
           approved_by=row.decider_display)
    _expose(session, escrow, row, source)
    session.commit()


def start_custodians(session, row, escrow, who, settings, source):
    """Custodians mode: open the custodians' request for the requester, once. Returns
    (recovery request, requester token, custodian token)."""
    from ..recovery import service as recovery

    if escrow.verification != CLIENT_CHECKED:
        raise HelpdeskError("escrow %s is kept in server mode: download it instead"
                            % escrow.id, 409, "wrong-recovery-mode")
    now = utcnow()
    taken = session.execute(update(HelpdeskRequest).where(
        HelpdeskRequest.id == row.id, HelpdeskRequest.recovery_request_id.is_(None),
        HelpdeskRequest.used_at.is_(None), *_still_approved(now)).values(used_at=now)).rowcount
    if taken != 1:
        session.rollback()
        session.refresh(row)
        if row.used_at is None:  # cancelled or ended in between
            raise refused(session, who, row, source, NotApproved(
                "request %s is %s now: it changed as you started the custodians' request, "
                "which was not opened; file a new request if it is still needed"
                % (row.id, row.current_state())))
        raise refused(session, who, row, source, HelpdeskError(
            "the custodians' request of helpdesk request %s was started already; its links "
            "were shown once to %s. If they are lost, file a new helpdesk request"
            % (row.id, row.requester_display), 409, "already-started"))
    _audit(session, "helpdesk-custodians", who, row, source, reason=row.reason,
           approved_by=row.decider_display)
    why = "helpdesk request %s, approved by %s: %s" % (row.id, row.decider_display, row.reason)
    # One commit for the approval's use, the custodians' request and the link between
    # them: a cancel sees either none of it or all of it (and then stops that request).
    opened, requester, custodian = recovery.open_request(
        session, settings, escrow, who, why[:recovery.MAX_REASON], source, commit=False)
    session.execute(update(HelpdeskRequest).where(HelpdeskRequest.id == row.id).values(
        recovery_request_id=opened.id))
    session.commit()
    return opened, requester, custodian


def started(session, recovery_request):
    """The helpdesk request that started this custodians' request, or None (the owner's)."""
    return session.scalar(select(HelpdeskRequest).where(
        HelpdeskRequest.recovery_request_id == recovery_request.id))


def custodians_ready(session, recovery_request, source):
    """Called as enough custodians approved a request (in its transaction): if the
    helpdesk started it, the escrow is exposed from now on."""
    row = started(session, recovery_request)
    if row is not None:
        _expose(session, session.get(Escrow, row.escrow_id), row, source)


def _verified_email(who):
    """The address a provider verified, or None: an unverified one may be anyone's (mailing
    it, or refusing its real owner as "the requester", would act on someone else's word)."""
    return who.get("email") if who.get("email_verified") is True else None


def _expose(session, escrow, row, source):
    """The first time the key leaves, once: of downloads at the same moment, one sets the
    time and records it (a conditional UPDATE, not the escrow as loaded before)."""
    reason = ("recovered by the helpdesk: %s asked (request %s), %s approved: %s"
              % (row.requester_display, row.id, row.decider_display, row.reason))
    taken = session.execute(update(Escrow).where(
        Escrow.id == escrow.id, Escrow.exposed_at.is_(None)).values(
        exposed_at=utcnow(), exposed_reason=reason)).rowcount
    if taken:
        audit.record(session, "escrow-exposed", "server", escrow.id, source, request=row.id,
                     reason=reason)


def clean_reason(reason, who_reads):
    reason = " ".join("".join(c for c in (reason or "") if c.isprintable() or c.isspace())
                      .split())
    if not reason or len(reason) > MAX_REASON:
        raise ReasonRequired("give a reason, 1 to %d characters: %s" % (MAX_REASON, who_reads))
    return reason


def cancel(session, request_id, reason):
    """An admin stops a request, whatever its state: its approval can no longer be used,
    and a custodians' request it started is stopped too (no more shares leave).
    Returns (row, whether this call cancelled it, whether it stopped a custodians'
    request), or (None, False, False) for no such request."""
    from ..recovery import service as recovery

    row = session.get(HelpdeskRequest, request_id) if is_id(request_id, 16) else None
    if row is None:
        return None, False, False
    was = row.current_state()
    taken = session.execute(update(HelpdeskRequest).where(
        HelpdeskRequest.id == row.id, HelpdeskRequest.state != CANCELLED).values(
        state=CANCELLED, cancelled_at=utcnow(), cancel_reason=reason)).rowcount
    stopped = False
    if taken:
        # Read after the UPDATE, which waited for a custodians' request being started
        # (its one commit): the link is there if that request is.
        session.refresh(row)
        stopped = row.recovery_request_id is not None and \
            recovery.cancel(session, row.recovery_request_id, "")
        audit.record(session, "helpdesk-cancel", "admin", row.escrow_id, "", request=row.id,
                     reason=reason, was=was, custodians_request_stopped=stopped)
    session.commit()
    session.refresh(row)
    return row, bool(taken), stopped


def refused(session, who, row, source, error):
    """Record a refused step on `row` (what was refused: the error's code) on its own,
    undoing the rest; returns `error`, marked as recorded, for the caller to raise."""
    session.rollback()
    _audit(session, "helpdesk-refused", who, row, source, refused=error.code)
    session.commit()
    error.recorded = True
    return error


def _audit(session, action, who, row, source, **detail):
    audit.record(session, action, who["display"], row.escrow_id, source, request=row.id,
                 provider=who["provider"], subject=who["sub"], email=who.get("email"),
                 **{k: v for k, v in detail.items() if v is not None})

