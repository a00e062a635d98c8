"""Claiming an upload: GET shows it after a login, a CSRF-protected POST claims it (S5)."""

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from .. import mail
from ..auth import identity
from ..escrows import service
from ..escrows.routes import client_address

router = APIRouter(include_in_schema=False)


@router.get("/claim/index.html")
def legacy_claim(token: str = ""):
    # The 2012 claim URLs carry the token in the query (…/claim/index.html?token=…).
    return RedirectResponse("/claim/%s" % token, status_code=303)


@router.get("/claim/{token}")
def show(request: Request, token: str):
    state = request.app.state
    with state.sessions() as session:
        escrow = service.by_claim_token(session, token)
        problem = _problem(escrow)
        if problem:
            return _message(request, *problem)
        who = identity.current(request)
        return state.templates.TemplateResponse(request, "claim.html", {
            "escrow": escrow, "identity": who, "token": token,
            "mail_to": mail.notice_address(state.settings, who),
            "providers": state.settings.oidc, "csrf": identity.csrf_token(request),
            "status": service.status(escrow)})


@router.post("/claim/{token}")
def confirm(request: Request, token: str, csrf: str = Form("")):
    state = request.app.state
    who = identity.current(request)
    if who is None:
        return RedirectResponse("/login?next=/claim/%s" % token, status_code=303)
    identity.check_csrf(request, csrf)
    with state.sessions() as session:
        escrow = service.claim(session, token, who, client_address(request))
        if escrow is None:
            problem = _problem(service.by_claim_token(session, token)) or (
                410, "This claim link no longer works",
                "It was already used, or its claim window is over.")
            return _message(request, *problem)
    return RedirectResponse("/?claimed=%s" % escrow.id, status_code=303)


def _problem(escrow):
    if escrow is None:
        return (404, "This claim link does not work",
                "It was already used, it has expired, or it was mistyped. A claimed escrow is "
                "listed on the home page of the account that claimed it.")
    if escrow.state() == "expired":
        return (410, "This claim link has expired",
                "Unclaimed uploads are deleted when their claim window ends. zescrow will "
                "upload your key again at your next login if it is still enrolled.")
    return None


def _message(request, status, title, text):
    return request.app.state.templates.TemplateResponse(
        request, "message.html", {"title": title, "text": text}, status_code=status)
