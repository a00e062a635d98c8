"""The owner's pages: my escrows, and a download that needs a fresh login (S6) and the
page's form (a POST with its CSRF token: a link hands out nothing)."""

import logging

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import mail
from ..audit import service as audit
from ..auth import identity
from ..errors import ApiError
from ..keys.service import KeyError_
from . import service
from .models import CLIENT_CHECKED
from .routes import client_address

router = APIRouter(include_in_schema=False)
log = logging.getLogger("zescrow.server.pages")


@router.get("/")
def home(request: Request, claimed: str = ""):
    state = request.app.state
    who = identity.current(request)
    escrows = []
    if who is not None:
        with state.sessions() as session:
            escrows = service.owned(session, who)
    return state.templates.TemplateResponse(request, "home.html", {
        "identity": who, "escrows": escrows, "claimed": claimed,
        "mail_to": mail.notice_address(state.settings, who),
        "providers": state.settings.oidc, "csrf": identity.csrf_token(request)})


@router.get("/escrows/{escrow_id}/download")
def download_link(escrow_id: str):
    """A link to a download (a mail, another site — SameSite=Lax sends the cookie with a
    link) hands out nothing and mails nobody: the owner's page, whose button does."""
    return RedirectResponse("/", status_code=303)


@router.post("/escrows/{escrow_id}/download")
async def download(request: Request, escrow_id: str, csrf: str = Form("")):
    who = await run_in_threadpool(identity.current, request)
    if who is None:
        return RedirectResponse("/login?next=/", status_code=303)
    return await run_in_threadpool(_download, request, who, escrow_id, csrf)


def _download(request, who, escrow_id, csrf):
    state = request.app.state
    source = client_address(request)
    with state.sessions() as session:
        # Whose it is first: someone else's escrow is "not found" whatever the form says.
        escrow = service.owned_one(session, who, escrow_id)
        if escrow.verification == CLIENT_CHECKED:  # not the server's to open: no alarm
            raise ApiError("escrow %s is kept in custodians mode: this server cannot open it; "
                           "ask the custodians for it at /escrows/%s/recovery"
                           % (escrow.id, escrow.id), 409, "wrong-recovery-mode")
        identity.check_csrf(request, csrf)
        if not identity.is_fresh(who, state.settings.download_max_age_seconds):
            # Downloading the key needs a sign-in that just happened, by the provider's
            # word (the ID token's auth_time): ask for one (prompt=login, max_age), then
            # back to the owner's page to press the button again. If the provider vouches
            # for an old one again, the callback refuses.
            return RedirectResponse("/login/%s?fresh=1&next=/" % who["provider"],
                                    status_code=303)
        try:
            archive = state.key.decrypt(escrow.sealed)
        except KeyError_ as err:
            log.error("escrow %s cannot be decrypted: %s", escrow.id, err)
            return Response("this escrow cannot be decrypted by the server key; the admin has "
                            "been told\n", status_code=500, media_type="text/plain")
        audit.record(session, "download", who["display"], escrow.id, source,
                     provider=who["provider"], issuer=who["iss"], subject=who["sub"])
        session.commit()
        mail.download_notice(state.settings, escrow, who, source)
    name = "zescrow-%s-%s.tar.gz" % (escrow.host or "escrow", escrow.created_at.strftime(
        "%Y%m%d"))
    return Response(archive, media_type="application/gzip", headers={
        "Content-Disposition": 'attachment; filename="%s"' % _ascii(name),
        "Cache-Control": "no-store"})


def _ascii(name):
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)
