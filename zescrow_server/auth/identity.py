"""Who is logged in (the signed session cookie and its row), and CSRF tokens for forms.

An identity is a subject of one configured provider: {provider, iss, sub},
where iss is the issuer configured for that provider, which the ID
token's iss matched (auth/routes.py). The same subject at two providers
is two people.
"""

import hashlib
import hmac
import math
import secrets
import time

from pam_zescrow.printable import printable

from ..errors import Forbidden, LoginFailed
from . import sessions

MAX_TEXT = 255  # the database's columns; OpenID Connect allows a sub of 255 at most
MAX_EMAIL = 254  # RFC 5321: no longer address can be delivered
MAX_GROUPS, MAX_GROUP = 32, 128  # the session cookie carries them
AUTH_TIME_LEEWAY = 120  # seconds a provider's clock may run ahead of ours
_UNKNOWN = object()


def current(request):
    """The logged-in identity {provider, iss, sub, display, email, auth_time}, or None.

    A cookie whose session was revoked, or ended, is forgotten here.
    """
    known = getattr(request.state, "identity", _UNKNOWN)  # asked before in this request
    if known is not _UNKNOWN:
        return known
    who = request.session.get("identity")
    if not isinstance(who, dict) or not who.get("sub"):
        who = None
    elif not _session_open(request, who):
        request.session.pop("identity", None)
        request.session.pop("sid", None)
        who = None
    request.state.identity = who
    return who


def _session_open(request, who):
    with request.app.state.sessions() as db:
        return sessions.is_open(db, request.session.get("sid"), who)


def login(request, provider, claims, email):
    """Open a session for the subject `claims` names at `provider` (its settings entry).

    `claims` are the ID token's, already checked (auth/routes.py); a
    subject over 255 characters is refused (OpenID Connect allows no
    more), a longer name is cut, an address that cannot exist is dropped.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_TEXT:
        raise LoginFailed("the login at %s gave a subject identifier that is not 1 to %d "
                          "characters, as OpenID Connect requires; tell the provider's "
                          "administrator" % (provider.name, MAX_TEXT))
    email = email if one_address(email) else None
    name = claims.get("name") or claims.get("preferred_username")
    verified = email is not None and claims.get("email_verified") is True
    display = _display(name, email if verified else None, sub, provider.name)
    if len(display) > MAX_TEXT:
        display = display[:MAX_TEXT - 1] + "…"
    who = {"provider": provider.name, "iss": provider.issuer, "sub": sub, "email": email,
           "display": display, "auth_time": _auth_time(claims), "groups": _groups(claims),
           "email_verified": verified}
    with request.app.state.sessions() as db:
        token = sessions.open_session(db, who)
    request.session["identity"] = who
    request.session["sid"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)  # a new one with every login
    request.state.identity = who
    return who


def logout(request):
    with request.app.state.sessions() as db:
        sessions.revoke(db, request.session.get("sid"))
    request.session.clear()


def one_address(email):
    """One plain address: mails go to it (a comma would add recipients, a line break
    would break the header), so anything else is no address at all."""
    if not (isinstance(email, str) and 0 < len(email) <= MAX_EMAIL and email.count("@") == 1
            and email.isprintable() and not any(c in email for c in ' ,;<>()[]"\\')):
        return False
    local, _, domain = email.partition("@")
    # "ana@example.org." reaches ana too, but would not match "ana@example.org" where
    # two people must differ (helpdesk/service.decide) or a role is given by address.
    return bool(local) and bool(domain) and not domain.startswith(".") and \
        not domain.endswith(".")


def _display(name, email, sub, provider):
    """How others see this login (helpdesk pages, mails, the audit's actor): the
    address, else the provider's name for them with who they are there — a provider's
    `name` is the user's own choice, and must not pass for an address or an office.
    Only an ASCII address is shown alone ("ana@exаmple.org" with a Cyrillic а is
    someone else), and the name is cut before "(provider:subject)" is added, never
    the other way round."""
    if email and email.isascii():
        return email
    name = " ".join("".join(c for c in name if c.isprintable()).split()) \
        if isinstance(name, str) else ""
    sub = printable(sub)  # a subject is the provider's string: a line break or a direction
    who = "%s:%s" % (provider, sub)  # override in it must not forge a line or reorder one
    if len(who) > MAX_TEXT:  # a subject near 255 characters: its end and a digest of it
        digest = hashlib.sha256(sub.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        who = "%s:%s…%s" % (provider, sub[:max(0, MAX_TEXT - len(provider) - 18)], digest)
    room = MAX_TEXT - len(who) - len(" ()")
    if room < 2:
        return who
    if len(name) > room:
        name = name[:room - 1] + "…"
    return "%s (%s)" % (name, who) if name else who


def _groups(claims):
    """The provider's "groups" claim: names only (roles.py matches them), bounded, since
    they ride in the session cookie; anything else in it is left out."""
    value = claims.get("groups")
    if not isinstance(value, list):
        return []
    names = [g for g in value if isinstance(g, str) and 0 < len(g) <= MAX_GROUP]
    return sorted(set(names))[:MAX_GROUPS]


def _auth_time(claims):
    """When the provider says the user last signed in (the ID token's auth_time), or None."""
    value = claims.get("auth_time")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):  # NaN or infinity: no time at all
        return None
    if value > time.time() + AUTH_TIME_LEEWAY:
        return None  # a login in the future vouches for nothing
    return int(value)


def is_fresh(identity, max_age):
    """Whether the provider vouched for a sign-in within the last `max_age` seconds."""
    auth_time = identity.get("auth_time")
    return isinstance(auth_time, int) and time.time() - auth_time <= max_age


def csrf_token(request):
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request, submitted):
    expected = request.session.get("csrf")
    # Bytes: compare_digest refuses str with characters beyond ASCII (a TypeError, a 500).
    if not expected or not submitted or not hmac.compare_digest(
            expected.encode("utf-8", "surrogateescape"),
            submitted.encode("utf-8", "surrogateescape")):
        raise Forbidden("this form is out of date or did not come from this site (CSRF check "
                        "failed); reload the page and try again", code="csrf-failed")
