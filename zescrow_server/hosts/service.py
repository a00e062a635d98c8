"""Enrolment tokens, hosts, and the upload gate of `enrolment = "required"` (issue #13).

    create_token(label, uses, days)   the admin: a token to hand to machines (shown once)
    enrol(token, name, public_key)    a machine (zescrowctl setup --token): its host id
    check_voucher(headers, user)      an upload in required mode: vouched for by an
                                      enrolled, unrevoked host, for this user, in time
    revoke(host or token)             the admin; a revoked host's vouchers stop working

docs/DESIGN.md "Enrolment" says why a voucher, not the host key, reaches users.
"""

import base64
import binascii
import datetime as dt
import re
import secrets

from sqlalchemy import delete, select, update

from zescrow_core import hostkey

from ..audit import service as audit
from ..errors import ApiError
from ..escrows.models import utcnow
from ..escrows.service import token_hash
from .models import EnrolToken, Host

MAX_NAME = 255
MAX_KEY = 512


class NotEnrolled(ApiError):
    status, code = 403, "not-enrolled"


def create_token(session, label, uses, days):
    token = "zet_" + secrets.token_urlsafe(24)
    row = EnrolToken(id=secrets.token_hex(4), label=label[:MAX_NAME], token_hash=token_hash(token),
                     uses_left=uses, expires_at=utcnow() + dt.timedelta(days=days))
    session.add(row)
    audit.record(session, "enrol-token-create", "admin", token=row.id, label=row.label,
                 uses=uses, days=days)
    session.commit()
    return row, token


def enrol(session, token, name, public_key, source):
    """Register a host with an enrolment token; returns its id."""
    name = name if isinstance(name, str) else ""
    name = "".join(c for c in name if c.isprintable())[:MAX_NAME]
    if not name:
        raise ApiError("give the machine's name", 400, "invalid-request")
    if not isinstance(public_key, str) or len(public_key) > MAX_KEY or \
            not _is_p256(public_key):
        raise ApiError("the host key is not a base64 DER P-256 public key", 422, "key-invalid")
    now = utcnow()
    # The form `enrol-token create` prints, before hashing: a lone surrogate cannot be
    # encoded to hash (a 500), and nothing else could be a token anyway.
    row = session.scalar(select(EnrolToken).where(
        EnrolToken.token_hash == token_hash(token))) if isinstance(token, str) and \
        re.fullmatch(r"zet_[A-Za-z0-9_-]{1,60}", token) else None
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise NotEnrolled("this enrolment token is unknown, revoked or expired; ask the "
                          "server's administrator for a new one (zescrow-server admin "
                          "enrol-token create)")
    # One use, counted in SQL: two machines racing for the last use cannot both win.
    taken = session.execute(update(EnrolToken).where(
        EnrolToken.id == row.id, EnrolToken.uses_left > 0).values(
        uses_left=EnrolToken.uses_left - 1)).rowcount
    if taken != 1:
        raise NotEnrolled("this enrolment token has been used as often as it may be; ask the "
                          "server's administrator for a new one")
    host = Host(id=secrets.token_hex(8), name=name, public_key=public_key, token_id=row.id,
                source=source)
    session.add(host)
    audit.record(session, "host-enrol", "host " + host.id, source=source, name=name,
                 token=row.id)
    session.commit()
    return host


def _is_p256(public_key):
    from Cryptodome.PublicKey import ECC

    try:
        der = base64.b64decode(public_key, validate=True)
        # DER only (a SEQUENCE): pycryptodome also takes an OpenSSH key, which the
        # report's check (coverage/service.py, OpenSSL on DER) could then never use.
        key = ECC.import_key(der) if der[:1] == b"\x30" else None
    except (ValueError, TypeError, IndexError, binascii.Error):
        return False
    if key is None:
        return False
    return not key.has_private() and key.curve in ("NIST P-256", "p256", "P-256", "prime256v1",
                                                   "secp256r1")


def check_voucher(session, voucher_b64, signature_b64, username):
    """Required mode: the upload's voucher holds, for `username`; returns the host."""
    what_next = ("uploads to this server must come from an enrolled machine: the escrow made "
                 "at a login on one carries its voucher (zescrowctl setup URL --system "
                 "--token T enrols a machine)")
    if not voucher_b64 or not signature_b64:
        raise NotEnrolled("this server takes uploads only from enrolled machines, and this one "
                          "carries no voucher; " + what_next)
    try:
        statement = base64.b64decode(voucher_b64, validate=True)
    except (binascii.Error, ValueError):
        raise NotEnrolled("the voucher is not base64; " + what_next) from None
    doc = hostkey.parse_voucher(statement)
    if doc is None:
        raise NotEnrolled("the voucher is not a zescrow voucher; " + what_next)
    host = session.get(Host, doc["host"]) if re.fullmatch(r"[0-9a-f]{16}", doc["host"]) \
        else None
    if host is None:
        raise NotEnrolled("the voucher names a host this server never enrolled; " + what_next)
    # The signature first: only the host itself learns it was revoked, and its name.
    if not hostkey.verify(host.public_key, statement, signature_b64):
        raise NotEnrolled("the voucher's signature is not host %s's; " % host.id + what_next)
    if host.revoked_at is not None:
        raise NotEnrolled("the host %s (%s) was revoked on %s UTC; ask the server's "
                          "administrator" % (host.id, host.name,
                                             host.revoked_at.strftime("%Y-%m-%d %H:%M")))
    if doc["user"] != username:
        raise NotEnrolled("the voucher is for user %r of host %s, not for the upload's user"
                          % (doc["user"][:64], host.id))
    if doc["not_after_time"] <= utcnow():
        raise NotEnrolled("the voucher expired on %s; log in on the machine again to escrow "
                          "anew" % doc["not_after"])
    return host


def revoke_host(session, host_id):
    host = session.get(Host, host_id)
    if host is None:
        return None
    if host.revoked_at is None:
        from ..coverage.models import Coverage

        host.revoked_at = utcnow()
        # Its users are no longer reported on: they leave the coverage counts.
        session.execute(delete(Coverage).where(Coverage.host_id == host.id))
        audit.record(session, "host-revoke", "admin", host=host.id, name=host.name)
        session.commit()
    return host


def revoke_token(session, token_id):
    row = session.get(EnrolToken, token_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, "enrol-token-revoke", "admin", token=row.id)
        session.commit()
    return row


def tokens(session):
    return list(session.scalars(select(EnrolToken).order_by(EnrolToken.created_at)))


def hosts(session):
    return list(session.scalars(select(Host).order_by(Host.enrolled_at)))
