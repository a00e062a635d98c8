"""Coverage: each enrolled host's signed report of its users, judged (issue #13).

A host (`zescrowctl report`, its daily system timer) sends, signed with its
host key, which local users have an eCryptfs home and, for each, the
digest of the setup now, the digest of the last escrow the server took,
that escrow's id, and the machine's last error — no secret. Each report
replaces the host's rows. Each row is judged against the escrow it names:

    verified   the escrow is here, checked (by the server, or by the client in
               custodians mode), and the setup has not changed since
    pending    the escrow is here and its check has not finished
    stale      the setup changed after the last escrow (the next login escrows it)
    failed     the machine's last attempt failed, or the server's check did
    missing    no escrow: never escrowed, or the one named is not here (deleted,
               purged unclaimed, or not this host's user's)

The state is stored with the row, so that the page and `admin coverage`
only count and read it (readout.py); it is judged again when its escrow
changes (checked, failed, deleted, purged: escrow_changed()).
"""

import base64
import binascii
import datetime as dt
import functools
import json
import re
from collections import namedtuple

from .. import bodylimit
from ..errors import ApiError
from ..escrows.models import CLIENT_CHECKED, FAILED as CHECK_FAILED, VERIFIED as CHECKED
from ..escrows.models import utcnow
from ..hosts.service import NotEnrolled
from . import readout
from .models import FAILED, MISSING, PENDING, STALE, VERIFIED, Coverage

FORMAT, VERSION = "zescrow-report", 1
MAX_REPORT = bodylimit.MAX_REPORT  # ~1,000 users of one machine
MAX_USERS = 1000
CLOCK_SKEW = dt.timedelta(minutes=5)  # a host's clock may run this far ahead of ours
MAX_AGE = dt.timedelta(days=2)  # an older report is a replay, or a clock far off
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{32}")
_CODE = re.compile(r"[a-z0-9-]{1,64}")


class ReportInvalid(ApiError):
    status, code = 422, "report-invalid"


def ingest(session, writer, host_id, statement, signature):
    """Check one report of `host_id` and have `writer` (writer.ReportWriter) store it;
    returns the answer for the host: {"host", "users": [{"user", "state", "reason"}],
    "exposed": [...]}. The checks read only; the write is the writer's."""
    # Plain SQL through the driver (readout.py), the columns needed, not ORM objects:
    # at a thousand reports a second SQLAlchemy's bookkeeping, and the escrows'
    # sealed bytes, cost more than the signature check (docs/BENCHMARKS.md).
    conn = readout.driver(session)
    host = _host(conn, host_id) if re.fullmatch(r"[0-9a-f]{16}", host_id or "") else None
    if host is None:
        raise NotEnrolled("this server never enrolled a host %s; enrol the machine again "
                          "(zescrowctl setup URL --system --token T)" % (host_id or "")[:16])
    if not _verify(host.public_key, statement, signature):
        raise NotEnrolled("the report's signature is not host %s's key; if the machine was "
                          "set up again, enrol it again" % host.id)
    if host.revoked_at is not None:  # said only to the host itself (signed above)
        raise NotEnrolled("the host %s (%s) was revoked on %s UTC; its reports are not taken"
                          % (host.id, host.name, host.revoked_at.strftime("%Y-%m-%d %H:%M")))
    doc = parse(statement)
    if doc["host"] != host.id:
        raise ReportInvalid("the report is host %s's, sent as host %s's" % (doc["host"], host.id))
    now = utcnow()
    if doc["time"] > now + CLOCK_SKEW or doc["time"] < now - MAX_AGE:
        raise ReportInvalid("the report is dated %s UTC, and this server's clock says %s: "
                            "set the machine's clock (timedatectl) and report again"
                            % (doc["time"].strftime("%Y-%m-%d %H:%M"),
                               now.strftime("%Y-%m-%d %H:%M")))
    if host.last_report_time is not None and doc["time"] <= host.last_report_time:
        raise _not_newer(host.last_report_time)
    escrows = _escrows(conn, [u["escrow"] for u in doc["users"] if u["escrow"]])
    host_id = host.id
    rows = []
    for user in doc["users"]:
        state, reason = judge(host_id, user, escrows.get(user["escrow"]))
        rows.append({"host_id": host_id, "username": user["user"], "digest": user["digest"],
                     "escrowed_digest": user["escrowed_digest"], "escrow_id": user["escrow"],
                     "client_error": user["error"], "client_error_at": user["error_at"],
                     "state": state, "reason": reason})
    # Only the reporting user's own escrows, under their name: a report naming someone
    # else's escrow id learns nothing of it.
    exposed = []
    for user in doc["users"]:
        e = escrows.get(user["escrow"])
        if e is not None and e.exposed_at is not None and _theirs(host_id, user["user"], e):
            exposed.append({"user": user["user"], "escrow": e.id, "at": _iso(e.exposed_at),
                            "reason": e.exposed_reason or ""})
    session.rollback()  # end the read before waiting: the writer's transaction is its own
    from .writer import Stale

    try:
        writer.submit(host_id, doc["time"], now, rows).result()
    except Stale:  # checked above, but another request of this host got in first
        raise _not_newer(doc["time"]) from None
    return {"host": host_id, "users": [{"user": r["username"], "state": r["state"],
                                        "reason": r["reason"]} for r in rows],
            "exposed": exposed}


def _not_newer(last):
    return ReportInvalid("the report is not newer than this host's last one (%s UTC): a "
                         "replay, or the machine's clock went back (or the host was revoked "
                         "meanwhile)" % last.strftime("%Y-%m-%d %H:%M:%S"))


# What every P-256 SubjectPublicKeyInfo starts with; the 65-byte point follows.
P256_SPKI = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


@functools.lru_cache(maxsize=4096)
def _public(public_b64):
    """The host's key. A P-256 key (all that enrolment takes) is read from its point:
    OpenSSL 3's DER decoder costs seven times as much (0.22 ms against 0.03), and every
    report of the day comes from another host, so the cache rarely holds it."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    der = base64.b64decode(public_b64)
    if len(der) == len(P256_SPKI) + 65 and der.startswith(P256_SPKI):
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                             der[len(P256_SPKI):])
    return load_der_public_key(der)


def _verify(public_b64, data, signature_b64):
    """hostkey.verify's answer, through OpenSSL (python3-cryptography): a quarter of
    pycryptodome's 1.3 ms per check, which at a thousand reports a second is most of a
    core (docs/BENCHMARKS.md). The signature is pycryptodome's raw r || s."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    try:
        raw = base64.b64decode(signature_b64, validate=True)
        if len(raw) != 64:
            return False
        der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                         int.from_bytes(raw[32:], "big"))
        key = _public(public_b64)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError, binascii.Error):
        return False


def parse(statement):
    """The report's fields, checked against docs/formats.md; ReportInvalid says what is not."""
    if len(statement) > MAX_REPORT:
        raise ReportInvalid("the report is over %d bytes" % MAX_REPORT)
    try:
        doc = json.loads(statement)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ReportInvalid("the report is not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or \
            type(doc.get("version")) is not int or doc["version"] != VERSION:  # not True
        raise ReportInvalid("the report is not a %s version %d document" % (FORMAT, VERSION))
    if not isinstance(doc.get("host"), str):
        raise ReportInvalid("the report names no host")
    doc["time"] = _time(doc.get("time"), "time", "%Y-%m-%dT%H:%M:%S.%fZ")
    users = doc.get("users")
    if not isinstance(users, list) or len(users) > MAX_USERS:
        raise ReportInvalid("the report's users are not a list of at most %d" % MAX_USERS)
    seen, checked = set(), []
    for user in users:
        entry = _user(user)
        if entry["user"] in seen:
            raise ReportInvalid("the report names user %r twice" % entry["user"])
        seen.add(entry["user"])
        checked.append(entry)
    doc["users"] = checked
    return doc


def _user(user):
    if not isinstance(user, dict):
        raise ReportInvalid("a user entry is not an object")
    name = user.get("user")
    if not isinstance(name, str) or not 0 < len(name) <= 255 or not name.isprintable():
        raise ReportInvalid("a user entry has no printable name of 1 to 255 characters")
    out = {"user": name}
    for key, pattern in (("digest", _HEX64), ("escrowed_digest", _HEX64), ("escrow", _ID),
                         ("error", _CODE)):
        value = user.get(key)
        if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value)):
            raise ReportInvalid("user %r: %s is not what docs/formats.md says" % (name, key))
        out[key] = value
    out["error_at"] = _time(user["error_at"], "error_at") if user.get("error_at") else None
    return out


def _time(value, what, form="%Y-%m-%dT%H:%M:%SZ"):
    try:
        when = dt.datetime.strptime(value, form)
        if when.year < 2000:  # before zescrow, and SQLite's text form wants four digits
            raise ValueError(value)
        return when
    except (TypeError, ValueError):
        raise ReportInvalid("the report's %s is not a UTC time like %s" % (
            what, "2026-12-03T10:00:00.123456Z" if "%f" in form else "2026-12-03T10:00:00Z")) \
            from None


HostRow = namedtuple("HostRow", "id name public_key revoked_at last_report_time")
EscrowRow = namedtuple("EscrowRow", "id username host_id verification verification_error "
                       "claimed_at claim_expires_at exposed_at exposed_reason setup_digest")
_TIMES = ("claimed_at", "claim_expires_at", "exposed_at")


def _host(conn, host_id):
    found = conn.query("SELECT id, name, public_key, revoked_at, last_report_time FROM hosts "
                       "WHERE id = ?", (host_id,))
    if not found:
        return None
    r = found[0]
    return HostRow(r[0], r[1], r[2], conn.read_time(r[3]), conn.read_time(r[4]))


def _escrows(conn, ids):
    """What judge() reads of each escrow named (never its sealed bytes), by id."""
    if not ids:
        return {}
    rows = conn.query("SELECT %s FROM escrows WHERE id IN (%s)" % (
        ", ".join(EscrowRow._fields), ", ".join("?" * len(ids))), ids)
    escrows = {}
    for r in rows:
        e = EscrowRow(*r)
        e = e._replace(**{k: conn.read_time(getattr(e, k)) for k in _TIMES})
        escrows[e.id] = e
    return escrows


def judge(host_id, user, escrow):
    """(state, reason) of one user of one host, with the escrow the host names (or None)."""
    name = user["user"]
    if user["error"] and not user["digest"]:
        return FAILED, "the machine could not read the eCryptfs setup (%s)" % user["error"]
    if user["error"]:
        return FAILED, "the last escrow at a login failed (%s, %s UTC); the user's " \
            "zescrowctl status says why" % (user["error"], _when(user["error_at"]))
    if not user["escrow"]:
        return MISSING, "never escrowed: the user has not logged in with a password since " \
            "the machine was set up, or zescrowd has not uploaded yet"
    if escrow is None:
        return MISSING, "the escrow %s the machine names is not on this server (deleted, " \
            "or purged unclaimed); the next login escrows again" % user["escrow"]
    if not _theirs(host_id, name, escrow):
        return MISSING, "the escrow %s the machine names was not uploaded for this user " \
            "of this host (with this host's voucher)" % escrow.id
    if escrow.verification == CHECK_FAILED:
        return FAILED, "the server's check of escrow %s failed: %s" % (
            escrow.id, escrow.verification_error or "no reason recorded")
    # The server's own digest of what the escrow holds (server mode), else the
    # machine's word for what it escrowed (custodians mode: the server cannot open it).
    escrowed = escrow.setup_digest or user["escrowed_digest"]
    if user["digest"] != escrowed:
        return STALE, "the eCryptfs setup changed after escrow %s (a new mount passphrase, " \
            "Private.sig or mount options); the user's next login escrows it again" % escrow.id
    if escrow.verification not in (CHECKED, CLIENT_CHECKED):
        return PENDING, "escrow %s is here; its check has not finished" % escrow.id
    by = "the server" if escrow.verification == CHECKED else "the client (custodians mode)"
    unclaimed = "" if escrow.claimed_at else (
        "; not claimed yet: it is purged at %s UTC unless its owner claims it"
        % _when(escrow.claim_expires_at))
    return VERIFIED, "escrow %s, checked by %s%s" % (escrow.id, by, unclaimed)


def _theirs(host_id, name, escrow):
    """Whether `escrow` was uploaded by user `name` with host `host_id`'s voucher: an
    upload without one (an open server, the 2012 deposit) covers no host."""
    return escrow.username == name and escrow.host_id == host_id


def escrow_changed(session, escrow_id):
    """Judge again the rows naming `escrow_id` (checked, failed, deleted, purged, exposed),
    in the caller's transaction."""
    from sqlalchemy import select

    rows = list(session.scalars(select(Coverage).where(Coverage.escrow_id == escrow_id)))
    if not rows:
        return
    escrow = _escrows(readout.driver(session), [escrow_id]).get(escrow_id)
    for row in rows:
        row.state, row.reason = judge(row.host_id, _as_user(row), escrow)


def _as_user(row):
    return {"user": row.username, "digest": row.digest, "escrowed_digest": row.escrowed_digest,
            "escrow": row.escrow_id, "error": row.client_error, "error_at": row.client_error_at}


def _iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _when(value):
    return value.strftime("%Y-%m-%d %H:%M") if value else "an unknown time"
