"""Escrows: accept an upload, report its state, claim it, list and purge.

Every function takes a SQLAlchemy session and commits what it changed
together with its audit event, before the caller answers (S8).
"""

import datetime as dt
import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import and_, delete, func, select, update

from pam_zescrow import openpgp

from ..audit import service as audit
from ..errors import ApiError, NotFound, Unauthorized
from .models import CLIENT_CHECKED, PENDING, Escrow, utcnow


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def check_sealed(sealed, key):
    """Refuse what is not an OpenPGP message to this server's encryption key (S7)."""
    try:
        recipients = openpgp.recipients(sealed)
    except (openpgp.NotOpenPGP, IndexError) as err:
        raise ApiError("the upload is not an encrypted OpenPGP message (%s); send the sealed "
                       "archive that zescrow writes to the spool" % err, 422, "not-openpgp")
    if not set(recipients) & set(key.encryption_key_ids):
        raise ApiError("the upload is encrypted to key %s, not to this server's key %s: the "
                       "client pinned another server's key; enrol again with zescrowctl setup"
                       % (", ".join(recipients), ", ".join(key.encryption_key_ids)),
                       422, "wrong-recipient")


def check_custodians(container, kept):
    """Custodians mode: refuse a container that does not match what this server
    publishes (k, the custodians in order, each share to its custodian)."""
    from zescrow_core import custodians
    from zescrow_core.errors import ContainerInvalid

    if kept is None:
        raise ApiError("this server keeps escrows in server mode: it has no custodians to "
                       "seal to; enrol again with zescrowctl setup", 422, "wrong-recovery-mode")
    try:
        custodians.check(container, kept.threshold, kept.key_ids())
    except ContainerInvalid as err:
        raise ApiError(err.text, 422, err.code) from None


def new_upload(sealed, settings, source, host="", username="", client_version="",
               legacy_md5=None, claim_token=None, verification=PENDING, host_id=None):
    """The rows of a new escrow and its audit event, and the two tokens to hand out.

    Returns (escrow_row, audit_row, claim_token, upload_token); the caller
    commits the rows (through the GroupWriter) before it answers.
    """
    claim_token = claim_token or secrets.token_urlsafe(24)  # 192 bits (S5)
    upload_token = secrets.token_urlsafe(24)
    now = utcnow()
    escrow_row = dict(
        id=uuid.uuid4().hex, created_at=now, sealed=sealed,
        sha256=hashlib.sha256(sealed).hexdigest(), size=len(sealed),
        host=host, username=username, client_version=client_version,
        claim_token_hash=token_hash(claim_token), upload_token_hash=token_hash(upload_token),
        claim_expires_at=now + dt.timedelta(seconds=settings.claim_window_seconds),
        claimed_at=None, owner_issuer=None, owner_subject=None, owner_display=None,
        owner_email=None, verification=verification, verification_error=None,
        verification_lease_until=None, key_signature=None, legacy_md5=legacy_md5,
        host_id=host_id, setup_digest=None)
    audit_row = audit.row("upload", "uploader", escrow_row["id"], source, host=host,
                          user=username, sha256=escrow_row["sha256"])
    return escrow_row, audit_row, claim_token, upload_token


def by_upload_token(session, escrow_id, upload_token):
    escrow = session.get(Escrow, escrow_id) if is_id(escrow_id) else None
    if escrow is None or not upload_token or not hmac.compare_digest(
            escrow.upload_token_hash, token_hash(upload_token)):
        # One answer for "no such escrow" and "wrong token": ids are not secrets,
        # but which ones exist is nobody's business.
        raise NotFound("no escrow %s for this upload token" % escrow_id)
    return escrow


def by_claim_token(session, token):
    if not token or len(token) > 200:
        return None
    return session.scalar(select(Escrow).where(Escrow.claim_token_hash == token_hash(token)))


def status(escrow):
    return {"id": escrow.id, "state": escrow.state(), "verification": _public_verification(
        escrow.verification), "verification_error": escrow.verification_error,
        "claimed_at": _iso(escrow.claimed_at), "claim_expires_at": _iso(escrow.claim_expires_at),
        "sha256": escrow.sha256}


def delete_unclaimed(session, escrow_id, upload_token, source):
    """Delete an escrow with its upload token, only while unclaimed.

    One conditional DELETE: a claim that commits between a check and the
    delete would otherwise be told "Claimed" of an escrow that is gone.
    """
    if not is_id(escrow_id) or not upload_token:
        raise NotFound("no escrow %s for this upload token" % escrow_id)
    result = session.execute(delete(Escrow).where(
        Escrow.id == escrow_id, Escrow.upload_token_hash == token_hash(upload_token),
        Escrow.claimed_at.is_(None)))
    if result.rowcount != 1:
        session.rollback()
        escrow = by_upload_token(session, escrow_id, upload_token)  # NotFound if it is not
        raise ApiError("escrow %s was already claimed; only its owner can delete it now"
                       % escrow.id, 409, "already-claimed")
    audit.record(session, "delete", "uploader", escrow_id, source)
    _coverage().escrow_changed(session, escrow_id)
    session.commit()


def claim(session, token, identity, source):
    """Bind the escrow to the identity, once, before expiry. Returns it or None."""
    now = utcnow()
    escrow_id = session.scalar(select(Escrow.id).where(
        Escrow.claim_token_hash == token_hash(token)))
    if escrow_id is None:
        return None
    # One conditional UPDATE: of two concurrent claims, exactly one changes the row.
    result = session.execute(
        update(Escrow).where(and_(Escrow.id == escrow_id,
                                  Escrow.claim_token_hash == token_hash(token),
                                  Escrow.claimed_at.is_(None), Escrow.claim_expires_at > now))
        .values(claimed_at=now, owner_provider=identity["provider"],
                owner_issuer=identity["iss"], owner_subject=identity["sub"],
                owner_display=identity["display"], owner_email=identity.get("email"),
                claim_token_hash=None))
    if result.rowcount != 1:
        session.rollback()
        return None
    audit.record(session, "claim", identity["display"], escrow_id, source,
                 provider=identity["provider"], issuer=identity["iss"], subject=identity["sub"])
    session.commit()
    return session.get(Escrow, escrow_id)


def owned(session, identity):
    return list(session.scalars(select(Escrow).where(*_owner_is(identity))
                                .order_by(Escrow.created_at.desc())))


def owned_one(session, identity, escrow_id):
    escrow = session.scalar(select(Escrow).where(Escrow.id == escrow_id, *_owner_is(identity))) \
        if is_id(escrow_id) else None
    if escrow is None:
        raise NotFound("you have no escrow %s" % escrow_id)
    return escrow


def _owner_is(identity):
    # The provider's name, its configured issuer and the subject: the same
    # subject under two providers is two people.
    return (Escrow.owner_provider == identity["provider"],
            Escrow.owner_issuer == identity["iss"], Escrow.owner_subject == identity["sub"])


def bind_owners(session, providers):
    """Give owners claimed before owners had a provider the one configured with their issuer.

    Run by init, which knows the settings (migration 0003). An issuer that
    several providers share binds nobody: which one the owner used is not
    known. Returns how many owners are still without a provider.
    """
    by_issuer = {}
    for p in providers:
        by_issuer.setdefault(p.issuer.rstrip("/"), []).append(p)
    unbound = (Escrow.owner_provider.is_(None), Escrow.claimed_at.isnot(None))
    for issuer, configured in by_issuer.items():
        if len(configured) == 1:
            session.execute(update(Escrow).where(
                *unbound, Escrow.owner_issuer.in_([issuer, issuer + "/"]))
                .values(owner_provider=configured[0].name, owner_issuer=configured[0].issuer))
    session.commit()
    return session.scalar(select(func.count()).select_from(Escrow).where(*unbound))


def purge_expired(session, actor="admin", source=""):
    now = utcnow()
    expired = (Escrow.claimed_at.is_(None), Escrow.claim_expires_at <= now)
    purged = []
    for escrow_id in list(session.scalars(select(Escrow.id).where(*expired))):
        # Each delete is conditional: a claim that got in first keeps its escrow.
        if session.execute(delete(Escrow).where(Escrow.id == escrow_id, *expired)).rowcount:
            audit.record(session, "purge", actor, escrow_id, source, reason="claim window over")
            _coverage().escrow_changed(session, escrow_id)
            purged.append(escrow_id)
    session.commit()
    return purged


def _coverage():
    # Not at the top: coverage judges escrows, and imports this module's neighbours.
    from ..coverage import service

    return service


def require_upload_token(authorization):
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the upload token from the upload's answer as "
                           "'Authorization: Bearer <upload_token>'")
    return token.strip()


def _public_verification(value):
    return "pending" if value in ("pending", "running") else value


def _iso(moment):
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


def is_id(value, length=32):
    """An id as this server makes them: `length` lower-case hex digits (escrows 32, helpdesk
    requests 16). Anything else is no id, and never reaches the database (a NUL is a 500
    on PostgreSQL)."""
    return isinstance(value, str) and len(value) == length and all(
        c in "0123456789abcdef" for c in value)
