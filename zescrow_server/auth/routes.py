"""Login through OpenID Connect (Authlib), any standard provider by issuer URL.

An identity is bound to the configured provider it came through: the
provider's discovery document and the ID token's iss must both name the
issuer configured for it (a provider naming another's issuer would sign
in as that one's users). An ID token that does not hold (issuer,
audience, nonce, expiry, signature) is a failed login, not a 500.
"""

import logging
import time

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from authlib.jose.errors import JoseError
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..errors import LoginFailed, LoginNotFresh, NotFound
from . import identity, sessions

router = APIRouter(include_in_schema=False)
log = logging.getLogger("zescrow.server.auth")
METADATA_SECONDS = 3600  # a provider's discovery document is read again after this


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
    client, configured = _client(request, provider)
    metadata = await _metadata(client, configured)
    if _issuer(metadata.get("issuer")) != _issuer(configured.issuer):
        metadata = await _metadata(client, configured, again=True)  # it may have changed
    if _issuer(metadata.get("issuer")) != _issuer(configured.issuer):
        raise LoginFailed("the login provider %s names the issuer %r in its discovery "
                          "document, not %r, the issuer configured for it; tell this server's "
                          "administrator" % (provider, metadata.get("issuer"), configured.issuer))
    redirect_uri = "%s/auth/%s/callback" % (request.app.state.settings.public_url.rstrip("/"),
                                            provider)
    # max_age makes the provider put auth_time in the ID token; a download
    # wants a login that just happened, not a remembered one.
    extra = {"max_age": sessions.LIFETIME_SECONDS}
    if fresh:
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
    request.session["fresh"] = bool(fresh)
    return response


@router.get("/auth/{provider}/callback")
async def callback(request: Request, provider: str):
    client, configured = _client(request, provider)
    claims, email = await _verified_claims(client, configured, request)
    who = await run_in_threadpool(identity.login, request, configured, claims, email)
    max_age = request.app.state.settings.download_max_age_seconds
    if request.session.pop("fresh", False) and not identity.is_fresh(who, max_age):
        request.session.pop("next", None)
        raise LoginNotFresh(
            "%s was asked for a new sign-in (prompt=login, max_age=%d) but vouched for %s: a "
            "download needs a sign-in of the last %d seconds; sign out at %s and try again"
            % (provider, max_age, "a sign-in at %d (Unix time)" % who["auth_time"]
               if who["auth_time"] else "no sign-in time (auth_time)", max_age, provider))
    return RedirectResponse(request.session.pop("next", "/"), status_code=303)


async def _verified_claims(client, configured, request):
    """The ID token's claims (checked), and the email from userinfo; LoginFailed if not."""
    name = configured.name
    try:
        token = await client.authorize_access_token(
            request, claims_options={"iss": {"essential": True, "values": _issuers(configured)}})
        claims = token.get("userinfo")
        if not claims or claims.get("nonce_supported") is False:
            # No ID token, or one that opts out of the nonce check (Authlib skips it then).
            raise LoginFailed("the login at %s gave no ID token that can be checked; start "
                              "again from the claim link" % name)
        # Some providers (oidc-provider among them) put the email only in userinfo.
        info = await client.userinfo(token=token)
    except OAuthError as err:
        raise LoginFailed("the login at %s did not complete (%s); start again from the claim "
                          "link" % (name, err.error))
    except JoseError as err:
        claim = getattr(err, "description", "") or err.error
        if '"iss"' in claim:
            raise LoginFailed("the login at %s was refused: its ID token was not issued by %s, "
                              "the issuer configured for it" % (name, configured.issuer))
        raise LoginFailed("the login at %s was refused: its ID token does not hold (%s); "
                          "start again from the claim link" % (name, claim))
    except (httpx.HTTPError, ValueError) as err:
        log.warning("login at %s failed: %s", name, err)
        raise LoginFailed("the login at %s could not be completed (the provider's answer could "
                          "not be used); try again later" % name)
    claims = dict(claims)
    if info.get("sub") != claims.get("sub"):
        return claims, claims.get("email")  # a userinfo of another subject is not used
    # The name may be only in userinfo; who it is stays the ID token's word.
    claims.update({k: info[k] for k in ("name", "preferred_username") if k in info})
    if "groups" not in claims and "groups" in info:  # roles.py: admins and helpdesk by group
        claims["groups"] = info["groups"]
    if info.get("email"):  # the email used is userinfo's: so is whether it was verified
        claims["email_verified"] = info.get("email_verified")
    return claims, info.get("email") or claims.get("email")


async def _metadata(client, configured, again=False):
    """The provider's discovery document: Authlib keeps it, for good, unless asked `again`."""
    if again or time.time() - client.server_metadata.get("_loaded_at", 0) > METADATA_SECONDS:
        client.server_metadata.pop("_loaded_at", None)
    try:
        return await client.load_server_metadata()
    except (httpx.HTTPError, ValueError) as err:
        log.warning("the discovery document of %s cannot be read: %s", configured.name, err)
        raise LoginFailed("the login provider %s cannot be reached; try again later"
                          % configured.name)


def _issuers(configured):
    # An issuer is compared exactly; a trailing slash in the settings is forgiven.
    return sorted({configured.issuer, configured.issuer.rstrip("/")})


def _issuer(value):
    return value.rstrip("/") if isinstance(value, str) else value


@router.post("/logout")
def logout(request: Request):
    identity.logout(request)
    return RedirectResponse("/", status_code=303)


def _client(request, provider):
    client = request.app.state.oauth.create_client(provider)
    configured = next((p for p in request.app.state.settings.oidc if p.name == provider), None)
    if client is None or configured is None:
        raise NotFound("there is no login provider %r on this server" % provider)
    return client, configured


def _safe_next(target):
    # Only a path on this site: never an open redirect.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
