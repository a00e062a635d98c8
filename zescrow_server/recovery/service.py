"""Recovery in custodians mode: the owner asks, k custodians answer, the requester combines.

The server only relays. It never holds a share in the clear nor a key that
opens one (issue #12):

    open(owner, escrow, reason)     the owner, after a fresh login on the web:
                                    two capabilities, one for the requesting
                                    machine, one for the custodians
    register_key(request, key)      the requesting machine's ephemeral public key
                                    (zescrowctl recover --request), once
    decide(request, statement, …)   a custodian's decision, signed with their own
                                    key: approve (their share re-encrypted to the
                                    requester's key) or decline with a reason
    shares(request)                 what the requester fetches once k approved

A decision is accepted only if its statement names this request, its
escrow and the registered requester key, is signed by the custodian it
names (one of the published set), and an approval's share is an OpenPGP
message to the requester's key alone. Every step is audited; the owner is
mailed at the request, and when the request is ready or can no longer be.
"""

import base64
import binascii
import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
import tempfile

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pam_zescrow import openpgp
from zescrow_core import recovery

from ..audit import service as audit
from ..custodians.service import CustodiansError, _list_keys
from ..errors import ApiError, NotFound
from ..escrows.models import CLIENT_CHECKED, Escrow, utcnow
from ..escrows.service import token_hash
from .models import (APPROVE, CANCELLED, DECLINE, DECLINED, OPEN, READY, CustodianDecision,
                     RecoveryRequest)

MAX_REASON = recovery.MAX_REASON
MAX_KEY_IDS = 4  # encryption subkeys of a requester's key (its column holds 4 IDs)
MAX_KEY_BYTES = 64 * 1024
MAX_SHARE_BYTES = 16 * 1024
MAX_SIGNATURE_BYTES = 16 * 1024


class Gone(ApiError):
    status, code = 410, "request-closed"


class Conflict(ApiError):
    status, code = 409, "conflict"


def open_request(session, settings, escrow, who, reason, source, commit=True):
    """A new request on the owner's `escrow`; returns (row, requester token, custodian token).
    commit=False: in the caller's transaction (the helpdesk's, which must record in the same
    commit which request it started)."""
    if escrow.verification != CLIENT_CHECKED:
        raise ApiError("escrow %s is in server mode: download it instead" % escrow.id, 409,
                       "wrong-recovery-mode")
    reason = " ".join("".join(c for c in (reason or "") if c.isprintable() or c.isspace())
                      .split())
    if not reason or len(reason) > MAX_REASON:
        raise ApiError("say why you need the key (1 to %d characters): the custodians read it "
                       "before they decide" % MAX_REASON, 400, "reason-required")
    requester, custodian = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    now = utcnow()
    row = RecoveryRequest(
        id=secrets.token_hex(8), escrow_id=escrow.id, created_at=now,
        expires_at=now + dt.timedelta(days=settings.recovery_request_days),
        requested_by="".join(c for c in who["display"] if c.isprintable())[:255] or "?",
        reason=reason, state=OPEN,
        requester_token_hash=token_hash(requester), custodian_token_hash=token_hash(custodian))
    session.add(row)
    audit.record(session, "recovery-request", who["display"], escrow.id, source,
                 request=row.id, reason=reason, provider=who["provider"], subject=who["sub"])
    if commit:
        session.commit()
    else:
        session.flush()
    return row, requester, custodian


def by_requester_token(session, token):
    return _by(session, RecoveryRequest.requester_token_hash, token)


def by_custodian_token(session, token):
    return _by(session, RecoveryRequest.custodian_token_hash, token)


def _by(session, column, token):
    row = session.scalar(select(RecoveryRequest).where(column == token_hash(token))) \
        if isinstance(token, str) and 16 <= len(token) <= 64 else None
    if row is None:
        raise NotFound("there is no recovery request at this address: it was mistyped, or its "
                       "escrow was deleted")
    return row


def owned_requests(session, escrow_ids):
    if not escrow_ids:
        return []
    return list(session.scalars(select(RecoveryRequest).where(
        RecoveryRequest.escrow_id.in_(escrow_ids)).order_by(RecoveryRequest.created_at.desc())))


def decisions(session, request):
    return list(session.scalars(select(CustodianDecision).where(
        CustodianDecision.request_id == request.id).order_by(CustodianDecision.id)))


def register_key(session, request, armored, source):
    """The requesting machine's ephemeral public key: one key that can encrypt, once."""
    _still_open(request)
    if request.requester_key:
        raise Conflict("this request already has the requester's key %s; a request takes one "
                       "key: if it was not yours, ask for a new request on the web"
                       % request.requester_fingerprint)
    if len(armored) > MAX_KEY_BYTES:
        raise ApiError("the key is over %d bytes" % MAX_KEY_BYTES, 413, "too-large")
    try:
        members, export = _list_keys(armored, "the requester's key")
    except CustodiansError as err:
        raise ApiError(str(err).replace("a custodian needs one to receive shares",
                                        "the requester needs one to receive shares"),
                       422, "key-invalid") from None
    if len(members) != 1:
        raise ApiError("send exactly one public key, not %d" % len(members), 422, "key-invalid")
    if len(members[0]["key_ids"]) > MAX_KEY_IDS:
        raise ApiError("the key has %d encryption subkeys; send one with at most %d"
                       % (len(members[0]["key_ids"]), MAX_KEY_IDS), 422, "key-invalid")
    # One key per request, decided in SQL: of two registrations at once, one wins.
    taken = session.execute(update(RecoveryRequest).where(
        RecoveryRequest.id == request.id, RecoveryRequest.requester_key.is_(None)).values(
        requester_key=export.decode("ascii"),  # gpg's own armored export, not what was sent
        requester_fingerprint=members[0]["fingerprint"],
        requester_key_ids=" ".join(members[0]["key_ids"]))).rowcount
    if taken != 1:
        session.rollback()
        raise Conflict("this request already has the requester's key; a request takes one "
                       "key: if it was not yours, ask for a new request on the web")
    audit.record(session, "recovery-key", "requester", request.escrow_id, source,
                 request=request.id, fingerprint=members[0]["fingerprint"])
    session.commit()


def decide(session, request, kept, body, source):
    """A custodian's signed decision. Returns the request's state afterwards.

    The request's row is locked (PostgreSQL: FOR UPDATE) from the first read to the
    commit, so that two approvals at once both count and one of them makes it ready."""
    request = session.scalar(select(RecoveryRequest).where(
        RecoveryRequest.id == request.id).with_for_update().execution_options(
        populate_existing=True)) or request
    _still_open(request)
    statement, signature = _text(body, "statement", 4096), _text(body, "signature",
                                                                MAX_SIGNATURE_BYTES)
    try:
        said = json.loads(statement)
    except ValueError:
        raise ApiError("the statement is not JSON", 422, "statement-invalid") from None
    if not isinstance(said, dict):
        raise ApiError("the statement is not a JSON object", 422, "statement-invalid")
    custodian, decision = said.get("custodian"), said.get("decision")
    if custodian not in kept.fingerprints:
        raise ApiError("%r is not one of this server's custodians" % (custodian,), 422,
                       "not-a-custodian")
    if decision not in (APPROVE, DECLINE):
        raise ApiError("the decision must be approve or decline", 422, "statement-invalid")
    reason = said.get("reason") if isinstance(said.get("reason"), str) else ""
    share = None
    if decision == APPROVE:
        if not request.requester_key:
            raise Conflict("the requester has not registered their key yet: ask them to run "
                           "zescrowctl recover --request with their request link first")
        share = _b64(body.get("share"), MAX_SHARE_BYTES)
        _check_share(share, request)
    expected = recovery.statement(request.id, request.escrow_id, _container_id(session, request),
                                  request.requester_fingerprint, custodian, decision, reason,
                                  share)
    try:
        sent = statement.encode("utf-8")
        signature.encode("ascii")
    except UnicodeEncodeError:
        raise ApiError("the statement must be UTF-8 and the signature armored ASCII", 422,
                       "statement-invalid") from None
    if sent != expected:
        raise ApiError("the statement does not name this request, its escrow, the requester's "
                       "key %s and the share sent with it" % request.requester_fingerprint,
                       422, "statement-mismatch")
    _verify_signature(kept, custodian, expected, signature)
    if session.scalar(select(CustodianDecision).where(
            CustodianDecision.request_id == request.id,
            CustodianDecision.custodian == custodian)) is not None:
        raise Conflict("custodian %s has already decided on this request" % custodian)
    session.add(CustodianDecision(request_id=request.id, custodian=custodian,
                                  decision=decision, reason=reason[:MAX_REASON],
                                  statement=statement, signature=signature, share=share))
    try:
        session.flush()
    except IntegrityError:  # the same custodian's decision, sent twice at once
        session.rollback()
        raise Conflict("custodian %s has already decided on this request" % custodian) from None
    audit.record(session, "recovery-" + decision, "custodian " + custodian, request.escrow_id,
                 source, request=request.id, reason=reason[:MAX_REASON])
    session.flush()
    made = decisions(session, request)
    approved = sum(1 for d in made if d.decision == APPROVE)
    declined = sum(1 for d in made if d.decision == DECLINE)
    if approved >= kept.threshold:
        request.state, request.ready_at = READY, utcnow()
        audit.record(session, "recovery-ready", "server", request.escrow_id, source,
                     request=request.id, approved=approved)
        from ..helpdesk import service as helpdesk  # here: helpdesk imports this module
        helpdesk.custodians_ready(session, request, source)  # exposes what it started
    elif declined > len(kept.fingerprints) - kept.threshold:
        request.state = DECLINED
        audit.record(session, "recovery-declined", "server", request.escrow_id, source,
                     request=request.id, declined=declined)
    session.commit()
    return request.state


def fetch(session, request, source):
    """What the requester combines: the container and the approved shares."""
    state = request.current_state()
    if state == "expired":
        raise Gone("this recovery request expired on %s UTC before %s custodians approved; ask "
                   "for a new one on the web" % (request.expires_at.strftime("%Y-%m-%d %H:%M"),
                                                 "enough"))
    if state == CANCELLED:
        raise Gone(_CANCELLED)
    escrow = session.get(Escrow, request.escrow_id)
    made = decisions(session, request)
    if state == READY:  # every time the shares leave, it is recorded
        audit.record(session, "recovery-fetch", "requester", request.escrow_id, source,
                     request=request.id)
        session.commit()
    return escrow, made


_CANCELLED = ("this recovery request was cancelled by the server's administrator (zescrow-server "
              "admin helpdesk cancel); ask them why, and for a new request if it is needed")


def cancel(session, request_id, source):
    """Stop an open or ready request (its helpdesk request was cancelled): no more decisions,
    no shares handed out. In the caller's transaction."""
    taken = session.execute(update(RecoveryRequest).where(
        RecoveryRequest.id == request_id, RecoveryRequest.state.in_((OPEN, READY)))
        .values(state=CANCELLED)).rowcount
    if taken:
        escrow_id = session.get(RecoveryRequest, request_id).escrow_id
        audit.record(session, "recovery-cancelled", "admin", escrow_id, source,
                     request=request_id)
    return bool(taken)


def _container_id(session, request):
    from zescrow_core import custodians

    return custodians.parse(session.get(Escrow, request.escrow_id).sealed)["escrow"]


def _still_open(request):
    state = request.current_state()
    if state == "expired":
        raise Gone("this recovery request expired on %s UTC; ask for a new one on the web"
                   % request.expires_at.strftime("%Y-%m-%d %H:%M"))
    if state == DECLINED:
        raise Gone("this recovery request was declined by too many custodians to complete")
    if state == CANCELLED:
        raise Gone(_CANCELLED)
    if state == READY:
        raise Gone("this recovery request has the approvals it needs already")


def _check_share(share, request):
    try:
        recipients = set(openpgp.recipients(share))
    except (openpgp.NotOpenPGP, IndexError) as err:
        raise ApiError("the share is not an OpenPGP message (%s)" % err, 422,
                       "share-invalid") from None
    if not recipients or not recipients <= set((request.requester_key_ids or "").split()):
        raise ApiError("the share is not encrypted to the requester's key %s alone"
                       % request.requester_fingerprint, 422, "share-invalid")


def _verify_signature(kept, custodian, statement, signature):
    """gpg --verify against the published custodian keys: signed by `custodian`'s key."""
    home = tempfile.mkdtemp(prefix="zr-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    gpg = ["gpg", "--homedir", home, "--batch", "--no-autostart", "--no-greeting",
           "--status-fd", "1"]
    try:
        subprocess.run(gpg + ["--import"], input=kept.armored, capture_output=True, timeout=60)
        sig_path, data_path = os.path.join(home, "sig.asc"), os.path.join(home, "statement")
        with open(sig_path, "w") as f:
            f.write(signature)
        with open(data_path, "wb") as f:
            f.write(statement)
        out = subprocess.run(gpg + ["--verify", sig_path, data_path], capture_output=True,
                             text=True, timeout=60).stdout
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    for line in out.splitlines():
        fields = line.split()
        # [GNUPG:] VALIDSIG <fpr> … <primary key fpr> (field 11)
        if len(fields) >= 12 and fields[1] == "VALIDSIG" and fields[11].upper() == custodian:
            return
    raise ApiError("the statement's signature is not a valid signature by custodian %s's key"
                   % custodian, 422, "signature-invalid")


def _text(body, name, limit):
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ApiError("%s is missing or over %d characters" % (name, limit), 422,
                       "statement-invalid")
    return value


def _b64(value, limit):
    if not isinstance(value, str) or len(value) > limit * 2:
        raise ApiError("the share is missing or too large", 422, "share-invalid")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("the share is not base64", 422, "share-invalid") from None


def public(request, escrow, made, kept, with_shares):
    """The request as JSON for the requester (with_shares) or a custodian."""
    doc = {"id": request.id, "state": request.current_state(), "reason": request.reason,
           "requested_by": request.requested_by,
           "created_at": request.created_at.isoformat() + "Z",
           "expires_at": request.expires_at.isoformat() + "Z",
           "threshold": kept.threshold, "custodians": kept.published(),
           "requester_fingerprint": request.requester_fingerprint,
           "escrow": {"id": escrow.id, "host": escrow.host, "username": escrow.username,
                      "created_at": escrow.created_at.isoformat() + "Z",
                      "sha256": escrow.sha256},
           "decisions": [{"custodian": d.custodian, "decision": d.decision, "reason": d.reason,
                          "at": d.at.isoformat() + "Z"} for d in made]}
    if with_shares:
        doc["container"] = base64.b64encode(escrow.sealed).decode()
        doc["shares"] = [] if request.current_state() != READY else [{"custodian": d.custodian, "statement": d.statement,
                          "signature": d.signature, "share": base64.b64encode(d.share).decode()}
                         for d in made if d.decision == APPROVE]
    else:
        doc["requester_key"] = request.requester_key
        doc["container"] = base64.b64encode(escrow.sealed).decode()
    return doc
