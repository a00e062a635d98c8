"""Login through OpenID Connect (Authlib), any standard provider by issuer URL."""

import logging

from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from ..errors import ApiError, NotFound
from . import identity

router = APIRouter(include_in_schema=False)
log = logging.getLogger("zescrow.server.auth")


def make_oauth(settings):
    oauth = OAuth()
    for p in settings.oidc:
        oauth.register(name=p.name, client_id=p.client_id, client_secret=p.client_secret,
                       server_metadata_url=p.issuer.rstrip("/")
                       + "/.well-known/openid-configuration",
                       client_kwargs={"scope": "openid email profile"})
    return oauth


@router.get("/login")
def choose(request: Request, next: str = "/"):
    state = request.app.state
    providers = state.settings.oidc
    if len(providers) == 1:
        return RedirectResponse("/login/%s?next=%s" % (providers[0].name, _safe_next(next)))
    return state.templates.TemplateResponse(request, "login.html", {
        "providers": providers, "next": _safe_next(next)})


@router.get("/login/{provider}")
async def start(request: Request, provider: str, next: str = "/", fresh: int = 0):
    client = _client(request, provider)
    redirect_uri = "%s/auth/%s/callback" % (request.app.state.settings.public_url.rstrip("/"),
                                            provider)
    extra = {}
    if fresh:  # a download wants a login that just happened, not a remembered one
        extra = {"prompt": "login",
                 "max_age": request.app.state.settings.download_max_age_seconds}
    # Authlib 1.2 (Debian 12) stores the OAuth state under the name of the last
    # key already in the session (a loop variable shadows it), which loses the
    # state and overwrites that key. With an empty session the loop does not
    # run: so hand it one, and put the rest back afterwards.
    kept = {k: v for k, v in request.session.items() if not k.startswith("_state_")}
    request.session.clear()
    response = await client.authorize_redirect(request, redirect_uri, **extra)
    request.session.update(kept)
    request.session["next"] = _safe_next(next)
    return response


@router.get("/auth/{provider}/callback")
async def callback(request: Request, provider: str):
    client = _client(request, provider)
    try:
        token = await client.authorize_access_token(request)
    except OAuthError as err:
        raise ApiError("the login at %s did not complete (%s); start again from the claim "
                       "link" % (provider, err.error), 400, "login-failed")
    claims = token.get("userinfo") or {}
    # Some providers (oidc-provider among them) put the email only in userinfo.
    info = await client.userinfo(token=token)
    email = info.get("email") or claims.get("email")
    identity.login(request, provider, dict(claims, **{k: v for k, v in info.items()
                                                      if k not in ("iss", "sub")}), email)
    return RedirectResponse(request.session.pop("next", "/"), status_code=303)


@router.post("/logout")
async def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def _client(request, provider):
    client = request.app.state.oauth.create_client(provider)
    if client is None:
        raise NotFound("there is no login provider %r on this server" % provider)
    return client


def _safe_next(target):
    # Only a path on this site: never an open redirect.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
