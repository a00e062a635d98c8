"""Who is logged in (from the signed session cookie), and CSRF tokens for forms."""

import hmac
import secrets
import time

from ..errors import Forbidden


def current(request):
    """The logged-in identity {iss, sub, display, email, provider, login_at}, or None."""
    identity = request.session.get("identity")
    return identity if isinstance(identity, dict) and identity.get("sub") else None


def login(request, provider, claims, email):
    display = email or claims.get("name") or claims.get("preferred_username") or claims["sub"]
    request.session["identity"] = {"iss": claims["iss"], "sub": claims["sub"], "email": email,
                                   "display": display, "provider": provider,
                                   "login_at": int(time.time())}
    request.session["csrf"] = secrets.token_urlsafe(32)  # a new one with every login


def is_fresh(identity, max_age):
    return int(time.time()) - int(identity.get("login_at", 0)) <= max_age


def csrf_token(request):
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request, submitted):
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden("this form is out of date or did not come from this site (CSRF check "
                        "failed); reload the page and try again", code="csrf-failed")
