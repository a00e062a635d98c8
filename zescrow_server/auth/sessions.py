"""Login sessions in the database: opened at login, checked on every request, revoked.

The cookie holds a random token (192 bits); the row holds only its hash,
as for claim tokens: a database leak does not hand out sessions.
"""

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, or_, select, update

from ..audit import service as audit
from ..escrows.models import utcnow
from .models import LoginSession

LIFETIME_SECONDS = 8 * 3600  # also the signed cookie's max_age (app.py)


def _hash(token):
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def open_session(db, identity):
    """A new session for `identity`; returns the token for the cookie."""
    token = secrets.token_urlsafe(24)
    now = utcnow()
    # Ended sessions are of no use to anyone: clear them as new ones come.
    db.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    db.add(LoginSession(id=_hash(token), provider=identity["provider"],
                        issuer=identity["iss"], subject=identity["sub"],
                        display=identity["display"], email=identity.get("email"),
                        created_at=now,
                        expires_at=now + dt.timedelta(seconds=LIFETIME_SECONDS)))
    db.commit()
    return token


def is_open(db, token, identity):
    """Whether `token` is a live session of exactly this identity."""
    if not isinstance(token, str) or not 0 < len(token) <= 100:
        return False
    row = db.get(LoginSession, _hash(token))
    return (row is not None and row.revoked_at is None and row.expires_at > utcnow()
            and (row.provider, row.issuer, row.subject)
            == (identity.get("provider"), identity.get("iss"), identity.get("sub")))


def revoke(db, token):
    if isinstance(token, str) and token:
        db.execute(update(LoginSession).where(LoginSession.id == _hash(token),
                                              LoginSession.revoked_at.is_(None))
                   .values(revoked_at=utcnow()))
        db.commit()


def revoke_all(db, who, provider=None):
    """Revoke every open session of the users `who` names (subject, email or display name).

    Returns [(provider, subject, display, count)], one per user, and
    records each in the audit log.
    """
    now = utcnow()
    live = [LoginSession.revoked_at.is_(None), LoginSession.expires_at > now,
            or_(LoginSession.subject == who, LoginSession.email == who,
                LoginSession.display == who)]
    if provider:
        live.append(LoginSession.provider == provider)
    users = {}
    for row in db.scalars(select(LoginSession).where(*live)):
        key = (row.provider, row.issuer, row.subject)
        users.setdefault(key, [row.display, 0])[1] += 1
    done = []
    for (name, issuer, subject), (display, _) in sorted(users.items()):
        count = db.execute(update(LoginSession).where(
            LoginSession.provider == name, LoginSession.issuer == issuer,
            LoginSession.subject == subject, *live[:2]).values(revoked_at=now)).rowcount
        audit.record(db, "revoke-sessions", "admin", provider=name, issuer=issuer,
                     subject=subject, sessions=count)
        done.append((name, subject, display, count))
    db.commit()
    return done
