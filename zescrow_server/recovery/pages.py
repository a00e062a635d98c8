"""The owner's side of a recovery in custodians mode: ask, with a reason; follow it.

Asking needs a fresh login, as a download does in server mode (S6). The
answer shows the two links once (only their hashes are kept): the
requester's, for `zescrowctl recover --request` on the machine that will
hold the key, and the custodians', which they are also mailed.
"""

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from .. import mail
from ..audit import service as audit
from ..auth import identity
from ..escrows import service as escrows
from ..escrows.routes import client_address
from . import service

router = APIRouter(include_in_schema=False)


@router.get("/escrows/{escrow_id}/recovery")
def ask(request: Request, escrow_id: str):
    state = request.app.state
    who = identity.current(request)
    if who is None:
        return RedirectResponse("/login?next=/escrows/%s/recovery" % escrow_id, status_code=303)
    with state.sessions() as session:
        escrow = escrows.owned_one(session, who, escrow_id)
        requests = service.owned_requests(session, [escrow.id])
        return _page(request, escrow=escrow, requests=requests, who=who)


@router.post("/escrows/{escrow_id}/recovery")
def open_request(request: Request, escrow_id: str, reason: str = Form(""), csrf: str = Form("")):
    state = request.app.state
    who = identity.current(request)
    target = "/escrows/%s/recovery" % escrow_id
    if who is None:
        return RedirectResponse("/login?next=" + target, status_code=303)
    identity.check_csrf(request, csrf)
    if not identity.is_fresh(who, state.settings.download_max_age_seconds):
        # As for a download: the provider must vouch for a sign-in that just happened.
        return RedirectResponse("/login/%s?fresh=1&next=%s" % (who["provider"], target),
                                status_code=303)
    kept = state.custodians
    source = client_address(request)
    with state.sessions() as session:
        escrow = escrows.owned_one(session, who, escrow_id)
        row, requester, custodian = service.open_request(session, state.settings, escrow, who,
                                                          reason, source)
        base = state.settings.public_url.rstrip("/")
        links = {"requester": "%s/recover/%s" % (base, requester),
                 "custodian": "%s/approve/%s" % (base, custodian)}
        mailed = _tell(state.settings, kept, escrow, row, who, links)
        audit.record(session, "recovery-mail", "server", escrow.id, source, request=row.id,
                     to=mailed)
        session.commit()
        requests = service.owned_requests(session, [escrow.id])
        return _page(request, escrow=escrow, requests=requests, who=who, opened=row,
                     links=links, mailed=mailed)


def _tell(settings, kept, escrow, row, who, links):
    """Mail each custodian with an address in their key's user ID, and the owner."""
    what = _what(escrow)
    mailed = tell_custodians(settings, kept, escrow, row, links)
    owner = mail.notice_address(settings, who)
    if owner and mail.send(settings, owner, "You asked to recover your zescrow key backup",
                           "You asked for the recovery of the eCryptfs key of %s (request %s) "
                           "because:\n\n  %s\n\nIf this was not you, tell your escrow server's "
                           "administrator now.\n" % (what, row.id, row.reason),
                           "the recovery notice"):
        mailed.append(owner)
    return mailed


def _what(escrow):
    return "%s@%s (uploaded %s UTC)" % (escrow.username or "?", escrow.host or "?",
                                       escrow.created_at.strftime("%Y-%m-%d %H:%M"))


def tell_custodians(settings, kept, escrow, row, links):
    """Mail each custodian with an address in their key's user ID: the addresses mailed.
    (Also for a request the helpdesk started: helpdesk/pages.py.)"""
    what = _what(escrow)
    mailed = []
    for member in kept.members:
        to = mail.address_in(member["name"])
        text = ("%s asks to recover the eCryptfs key of %s, kept by zescrow in custodians "
                "mode, because:\n\n  %s\n\nYou are one of its %d custodians; %d must approve. "
                "To decide, run on the computer with your OpenPGP key:\n\n"
                "  zescrowctl custodian approve %s\n  zescrowctl custodian decline %s "
                "--reason WHY\n\nBefore you approve, check with %s, by a way you trust, "
                "the requester key fingerprint the command shows. The request expires %s UTC.\n"
                % (row.requested_by, what, row.reason, len(kept.members), kept.threshold,
                   links["custodian"], links["custodian"], row.requested_by,
                   row.expires_at.strftime("%Y-%m-%d %H:%M")))
        if mail.send(settings, to, "zescrow: %s asks to recover a key" % row.requested_by,
                     text, "the recovery request"):
            mailed.append(to)
    return mailed


def _page(request, **context):
    state = request.app.state
    kept = state.custodians
    context.setdefault("opened", None)
    context.setdefault("links", None)
    context.setdefault("mailed", [])
    with state.sessions() as session:
        decided = {r.id: service.decisions(session, r) for r in context["requests"]}
    return state.templates.TemplateResponse(request, "recovery.html", dict(
        context, identity=context["who"], kept=kept, decided=decided,
        csrf=identity.csrf_token(request),
        max_age_minutes=state.settings.download_max_age_seconds // 60))


@router.get("/recover/{token}")
def requester_link(request: Request, token: str):
    return _message(request, "Run this link with zescrowctl",
                    "This is a recovery request's link for the computer that should get the "
                    "key back. Run there: zescrowctl recover --request %s"
                    % _link(request, "recover", token))


@router.get("/approve/{token}")
def custodian_link(request: Request, token: str):
    return _message(request, "Decide with zescrowctl",
                    "This is a recovery request's link for its custodians. On the computer "
                    "with your OpenPGP key, run: zescrowctl custodian approve %s (or "
                    "zescrowctl custodian decline %s --reason WHY)"
                    % (_link(request, "approve", token), _link(request, "approve", token)))


def _link(request, kind, token):
    safe = "".join(c for c in token if c.isalnum() or c in "-_")[:64]
    return "%s/%s/%s" % (request.app.state.settings.public_url.rstrip("/"), kind, safe)


def _message(request, title, text):
    return request.app.state.templates.TemplateResponse(
        request, "message.html", {"title": title, "text": text})
