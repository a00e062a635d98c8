"""The helpdesk's pages: find an escrow, ask with a reason, an admin decides, the
requester recovers (a download in server mode, the custodians' request in custodians
mode) after a fresh login, within the approval's window.

    GET  /helpdesk                              search, and the latest requests
    POST /helpdesk/requests                     ask (helpdesk)
    GET  /helpdesk/requests/{id}                one request
    POST /helpdesk/requests/{id}/decision       approve or decline (an admin, not the requester)
    POST /helpdesk/requests/{id}/download       server mode: the archive (the requester)
    POST /helpdesk/requests/{id}/custodians     custodians mode: open their request

A refusal is a page with one sentence — what happened, why, what to do —
and its status code, and a refusal on a request is in the audit log; every
POST checks the session's CSRF token. Nothing that hands out or exposes a key
is a GET: a link from elsewhere (SameSite=Lax sends the cookie with it) must
not take a key or mark it exposed.
"""

import logging

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import roles
from ..audit import service as audit
from ..auth import identity
from ..errors import ApiError, Forbidden
from ..escrows.models import CLIENT_CHECKED, Escrow
from ..escrows.routes import client_address
from ..keys.service import KeyError_
from . import notices, service

router = APIRouter(include_in_schema=False)
log = logging.getLogger("zescrow.server.helpdesk")
TITLES = {"self-approval": "You cannot approve your own request",
          "approval-expired": "This approval has expired",
          "request-expired": "This request has expired",
          "approver-not-admin": "The approver is no longer an admin",
          "not-approved": "Not approved", "not-requester": "Not your request",
          "not-helpdesk": "Only for the helpdesk", "not-admin": "Only for admins",
          "csrf-failed": "Out-of-date form", "reason-required": "A reason is needed"}


def _page(handler, on_request=False):
    """Runs `handler(request, who, ...)` for a signed-in user; a refusal becomes a page.
    on_request: the first argument is a request's id, and a refusal the service did not
    record already is recorded against that request (a bad form, the wrong mode …)."""
    def wrapped(request, target, *args):
        who = identity.current(request)
        if who is None:
            return RedirectResponse("/login?next=" + target, status_code=303)
        try:
            return handler(request, who, *args)
        except ApiError as err:
            if on_request and not getattr(err, "recorded", False):
                _record(request, who, args[0], err)
            return request.app.state.templates.TemplateResponse(
                request, "message.html", {"identity": who, "text": _sentence(err.message),
                                          "title": TITLES.get(err.code, "Refused")},
                status_code=err.status)
    return wrapped


def _record(request, who, request_id, err):
    with request.app.state.sessions() as session:
        try:
            row = service.by_id(session, request_id)
        except service.UnknownRequest:
            return  # nothing to record it against (and no id to trust)
        service.refused(session, who, row, client_address(request), err)


def _sentence(text):
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@router.get("/helpdesk")
def home(request: Request, q: str = ""):
    return _page(_home)(request, "/helpdesk", q)


def _home(request, who, q):
    roles.require(request, roles.HELPDESK)
    state = request.app.state
    with state.sessions() as session:
        found = service.find(session, q)
        rows = service.listed(session)
        escrows = _escrows(session, [r.escrow_id for r in rows])
        return _render(request, "helpdesk.html", who, q=q[:600], found=found, rows=rows,
                       escrows=escrows)


@router.post("/helpdesk/requests")
def ask(request: Request, escrow: str = Form(""), reason: str = Form(""),
        csrf: str = Form("")):
    return _page(_ask)(request, "/helpdesk", escrow, reason, csrf)


def _ask(request, who, escrow_id, reason, csrf):
    identity.check_csrf(request, csrf)
    roles.require(request, roles.HELPDESK)
    state = request.app.state
    with state.sessions() as session:
        escrow = service.escrow_for_request(session, escrow_id)
        row = service.ask(session, escrow, who, reason, client_address(request),
                          state.settings.helpdesk_pending_hours)
        _mailed(session, row, notices.requested(state.settings, escrow, row)
                + notices.admins_asked(state.settings, escrow, row))
        return RedirectResponse("/helpdesk/requests/%s" % row.id, status_code=303)


@router.get("/helpdesk/requests/{request_id}")
def show(request: Request, request_id: str):
    return _page(_show)(request, "/helpdesk/requests/" + _safe(request_id), request_id)


def _show(request, who, request_id, **opened):
    roles.require(request, roles.HELPDESK)
    with request.app.state.sessions() as session:
        row = service.by_id(session, request_id)
        escrow = session.get(Escrow, row.escrow_id)
        return _render(request, "helpdesk_request.html", who, row=row, escrow=escrow,
                       state=row.current_state(), mine=row.asked_by(who),
                       admin=roles.ADMIN in roles.roles(request.app.state.settings, who),
                       custodians=escrow.verification == CLIENT_CHECKED, **opened)


@router.post("/helpdesk/requests/{request_id}/decision")
def decision(request: Request, request_id: str, decision: str = Form(""),
             reason: str = Form(""), csrf: str = Form("")):
    return _page(_decide, True)(request, "/helpdesk/requests/" + _safe(request_id),
                                request_id, decision, reason, csrf)


def _decide(request, who, request_id, decision, reason, csrf):
    state = request.app.state
    with state.sessions() as session:
        row = _role(request, who, roles.ADMIN, session, request_id)
        identity.check_csrf(request, csrf)
        if decision not in ("approve", "decline"):
            raise service.HelpdeskError("the decision must be approve or decline; use the "
                                        "buttons on the request's page", 400, "bad-decision")
        service.decide(session, row, who, decision == "approve", reason, state.settings,
                       client_address(request))
        escrow = session.get(Escrow, row.escrow_id)
        _mailed(session, row, notices.decided(state.settings, escrow, row))
    return RedirectResponse("/helpdesk/requests/%s" % row.id, status_code=303)


@router.get("/helpdesk/requests/{request_id}/download")
def download_link(request_id: str):
    """An old link or a bookmark: the request's page, whose button downloads (a POST)."""
    return RedirectResponse("/helpdesk/requests/%s" % _safe(request_id), status_code=303)


@router.post("/helpdesk/requests/{request_id}/download")
async def download(request: Request, request_id: str, csrf: str = Form("")):
    target = "/helpdesk/requests/%s" % _safe(request_id)
    return await run_in_threadpool(_page(_download, True), request, target, request_id,
                                   target, csrf)


def _download(request, who, request_id, target, csrf):
    state = request.app.state
    source = client_address(request)
    with state.sessions() as session:
        row = _role(request, who, roles.HELPDESK, session, request_id)
        identity.check_csrf(request, csrf)
        service.usable(session, row, who, state.settings, source)
        escrow = session.get(Escrow, row.escrow_id)
        if escrow.verification == CLIENT_CHECKED:
            raise service.HelpdeskError("escrow %s is kept in custodians mode: this server "
                                        "cannot open it; start the custodians' request on the "
                                        "request's page" % escrow.id, 409,
                                        "wrong-recovery-mode")
        fresh = _fresh(state, who, target)  # back on the request's page, the button again
        if fresh is not None:
            return fresh
        try:
            archive = state.key.decrypt(escrow.sealed)
        except KeyError_ as err:
            log.error("escrow %s cannot be decrypted: %s", escrow.id, err)
            raise ApiError("this escrow cannot be decrypted by the server key; the admin has "
                           "been told", 500, "internal") from None
        service.downloaded(session, row, escrow, who, source)
        _mailed(session, row, notices.downloaded(state.settings, escrow, row, source))
        name = "zescrow-%s-%s.tar.gz" % (escrow.host or "escrow", escrow.username or "user")
    return Response(archive, media_type="application/gzip", headers={
        "Content-Disposition": 'attachment; filename="%s"' % _ascii(name),
        "Cache-Control": "no-store"})


@router.post("/helpdesk/requests/{request_id}/custodians")
def custodians(request: Request, request_id: str, csrf: str = Form("")):
    return _page(_custodians, True)(request, "/helpdesk/requests/" + _safe(request_id),
                                    request_id, csrf)


def _custodians(request, who, request_id, csrf):
    state = request.app.state
    source = client_address(request)
    with state.sessions() as session:
        row = _role(request, who, roles.HELPDESK, session, request_id)
        identity.check_csrf(request, csrf)
        service.usable(session, row, who, state.settings, source)
        escrow = session.get(Escrow, row.escrow_id)
        fresh = _fresh(state, who, "/helpdesk/requests/%s" % row.id)
        if fresh is not None:  # back on the request's page, the button again
            return fresh
        if state.custodians is None:
            raise service.HelpdeskError("this server has no custodians (server mode); the "
                                        "escrow cannot be opened by them", 409,
                                        "wrong-recovery-mode")
        opened, requester, custodian = service.start_custodians(
            session, row, escrow, who, state.settings, source)
        base = state.settings.public_url.rstrip("/")
        links = {"requester": "%s/recover/%s" % (base, requester),
                 "custodian": "%s/approve/%s" % (base, custodian)}
        from ..recovery.pages import tell_custodians

        mailed = tell_custodians(state.settings, state.custodians, escrow, opened, links)
        mailed += notices.custodians_asked(state.settings, escrow, row)
        audit.record(session, "recovery-mail", "server", escrow.id, source, request=opened.id,
                     to=mailed)
        session.commit()
    return _show(request, who, request_id, opened=opened, links=links, mailed=mailed)


def _role(request, who, role, session, request_id):
    """The request, if `who` has `role`; else the refusal is recorded against it and
    raised (Forbidden, with what to do) — the same refusal whether the request exists
    or not: without the role, nobody learns which ids are real."""
    try:
        roles.require(request, role)
    except Forbidden as err:
        try:
            row = service.by_id(session, request_id)
        except service.UnknownRequest:
            err.recorded = True  # nothing to record it against
            raise err from None
        raise service.refused(session, who, row, client_address(request), err) from None
    return service.by_id(session, request_id)


def _fresh(state, who, target):
    """A redirect to a new sign-in (prompt=login, max_age) unless the provider vouched for
    one within download_max_age_seconds; the callback refuses an old one (auth/routes.py)."""
    if identity.is_fresh(who, state.settings.download_max_age_seconds):
        return None
    return RedirectResponse("/login/%s?fresh=1&next=%s" % (who["provider"], target),
                            status_code=303)


def _mailed(session, row, to):
    if to:
        audit.record(session, "helpdesk-mail", "server", row.escrow_id, "", request=row.id,
                     to=to)
        session.commit()


def _escrows(session, ids):
    from sqlalchemy import select

    return {e.id: e for e in session.scalars(select(Escrow).where(Escrow.id.in_(set(ids))))} \
        if ids else {}


def _render(request, name, who, **context):
    state = request.app.state
    context.setdefault("opened", None)
    return state.templates.TemplateResponse(request, name, dict(
        context, identity=who, csrf=identity.csrf_token(request),
        hours=state.settings.helpdesk_approval_hours,
        max_age_minutes=max(1, state.settings.download_max_age_seconds // 60)))


def _safe(text):
    return "".join(c for c in text if c.isalnum())[:16]


def _ascii(name):
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)
