"""Recovery in custodians mode, on the client: the requester's and the custodians' side.

    requester (zescrowctl recover --request URL)
        ephemeral key pair, kept in ~/.local/share/zescrow/recovery/REQUEST/
        (0700; the private half never leaves it) → its public half registered
        with the request → once k custodians approved: their shares
        decrypted with it, combined, the archive opened → the folder removed
    custodian (zescrowctl custodian approve|decline URL)
        the request shown (who, which escrow, why, the requester's key) →
        confirmed → their own share decrypted with their own gpg → re-encrypted
        to the requester's key → a statement of it signed with their key → sent

The server relays and cannot open anything (zescrow_server/recovery/). Every
answer is checked against the contract before it is used or shown.
"""

import base64
import binascii
import os
import re
import shutil
import subprocess
import tempfile
from urllib.parse import urlsplit

from pam_zescrow.printable import printable
from zescrow_core import custodians as container, recovery as statements

from . import http
from .errors import CustodianKeyNotHere, RecoveryRefused, ServerAnswerInvalid, ServerUnreachable

MAX_ANSWER = 512 * 1024  # the container (<= 256 KiB as base64) and up to 16 shares
FPR = re.compile(r"^[0-9A-F]{40}$")
GPG = ["gpg", "--batch", "--no-greeting", "--quiet"]
GPG_TIMEOUT = 120  # a custodian's smartcard may wait for a PIN
_OPTIONS = {"--passphrase", "--pinentry-mode", "--armor", "--with-colons", "--trust-model",
            "--local-user", "--recipient"}  # not what gpg was asked to do


class Link:
    """A request link: https://SERVER/recover/TOKEN or https://SERVER/approve/TOKEN."""

    def __init__(self, url, kind):
        parts = urlsplit(url or "")
        path = parts.path.rstrip("/").split("/")
        if parts.scheme != "https" or len(path) < 3 or path[-2] != kind or \
                not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", path[-1]) or parts.query:
            raise RecoveryRefused(reason="%s is not a %s link (https://SERVER/%s/TOKEN)"
                                  % (printable(url[:200] if url else ""), kind, kind),
                                  what_next="copy the link exactly as the request's page or "
                                  "mail gave it")
        self.server = "%s://%s%s" % (parts.scheme, parts.netloc, "/".join(path[:-2]))
        self.token = path[-1]
        self.api = "%s/api/v1/%s/%s" % (self.server, "recovery" if kind == "recover"
                                        else "custodian", self.token)


def call(method, url, verify, body=None, headers=None):
    """One request to the recovery API: the answer's JSON, or a named error."""
    host = urlsplit(url).netloc
    try:
        r = http.request(method, url, body=body, headers=headers, verify=verify,
                         max_body=MAX_ANSWER)
    except http.TooLarge as err:
        raise ServerAnswerInvalid(host=host, what="too large", reason=str(err)) from None
    except http.NetworkError as err:
        if err.tls:
            raise RecoveryRefused(reason="certificate verify failed for %s (%s)"
                                  % (host, printable(err.reason)),
                                  what_next="give --ca-file PEM, the CA that signed the "
                                  "server's certificate (the server's administrator has it)") \
                from None
        raise ServerUnreachable(host=host, reason=err.reason) from None
    if r.status_code == 204:
        return {}
    try:
        doc = r.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise ServerAnswerInvalid(host=host, what="HTTP %d" % r.status_code,
                                  reason="no JSON object")
    if r.status_code >= 400:
        message = doc.get("message") if isinstance(doc.get("message"), str) else "no reason"
        raise RecoveryRefused(reason="HTTP %d: %s" % (r.status_code, printable(message[:500])),
                              what_next=_what_next(r.status_code))
    return doc


def _what_next(status):
    if status == 404:
        return "check the link; the request may have been deleted with its escrow"
    if status == 410:
        return ("if the key is still needed, ask for a new recovery request on the server's "
                "web page (the owner on their page, the helpdesk with a new helpdesk request)")
    return "read the server's reason above; nothing was changed"


def checked_request(doc, host):
    """The request document, its fields checked against the contract."""
    def bad(what):
        return ServerAnswerInvalid(host=host, what="a recovery request",
                                   reason="its %s is missing or malformed" % what)

    for name in ("id", "state", "reason", "requested_by", "created_at", "expires_at"):
        if not isinstance(doc.get(name), str) or len(doc[name]) > 2000:
            raise bad(name)
    if not isinstance(doc.get("threshold"), int) or isinstance(doc["threshold"], bool):
        raise bad("threshold")
    members = doc.get("custodians")
    if not isinstance(members, list) or not all(
            isinstance(m, dict) and isinstance(m.get("fingerprint"), str)
            and FPR.match(m["fingerprint"]) and isinstance(m.get("name"), str)
            for m in members):
        raise bad("custodians")
    if not container.threshold_fits(doc["threshold"], len(members)):
        raise bad("threshold")
    escrow = doc.get("escrow")
    if not isinstance(escrow, dict) or not all(isinstance(escrow.get(k), str) for k in (
            "id", "host", "username", "created_at", "sha256")):
        raise bad("escrow")
    requester = doc.get("requester_fingerprint")
    if requester is not None and not (isinstance(requester, str) and FPR.match(requester)):
        raise bad("requester_fingerprint")
    decisions = doc.get("decisions")
    if not isinstance(decisions, list) or not all(
            isinstance(d, dict) and d.get("decision") in ("approve", "decline")
            and isinstance(d.get("custodian"), str) and FPR.match(d["custodian"])
            and isinstance(d.get("reason"), str) for d in decisions):
        raise bad("decisions")
    key = doc.get("requester_key")
    if key is not None and not (isinstance(key, str) and 0 < len(key) <= 64 * 1024):
        raise bad("requester_key")
    doc["container_bytes"] = _b64(doc.get("container"), bad("container"))
    import hashlib

    # The container must be the escrow the request names (its sha256 as uploaded).
    if hashlib.sha256(doc["container_bytes"]).hexdigest() != escrow["sha256"]:
        raise bad("container (it is not the escrow whose sha256 the request names)")
    return doc


def _b64(value, error):
    if not isinstance(value, str):
        raise error
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise error from None


# --- the requester ---------------------------------------------------------

def requester_home(token):
    """This computer's folder for one request: its gpg home holds the ephemeral key."""
    import hashlib

    base = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser(
        "~/.local/share"), "zescrow", "recovery")
    os.makedirs(base, mode=0o700, exist_ok=True)
    home = os.path.join(base, hashlib.sha256(token.encode()).hexdigest()[:16])
    os.makedirs(home, mode=0o700, exist_ok=True)
    os.chmod(home, 0o700)
    return home


def ephemeral_key(home, request_id):
    """(fingerprint, armored public key) of the request's key pair, made on first use."""
    fpr = _own_fingerprint(home)
    if fpr is None:
        _gpg(home, ["--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key",
                    "zescrow recovery request %s" % request_id, "future-default", "default",
                    "60d"])
        fpr = _own_fingerprint(home)
    return fpr, _gpg(home, ["--armor", "--export", fpr])


def _own_fingerprint(home):
    listing = _gpg(home, ["--with-colons", "--list-secret-keys"], check=False).decode()
    return _primary_fingerprints(listing, "sec")[0] if "sec:" in listing else None


def stop_agent(home):
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)


def open_shares(home, doc, host):
    """The custodians' shares, decrypted with the ephemeral key; then the archive."""
    shares = doc.get("shares")
    if not isinstance(shares, list) or len(shares) > len(doc["custodians"]):
        raise ServerAnswerInvalid(host=host, what="a recovery request",
                                  reason="its approved shares are missing, or more than its "
                                  "custodians")
    opened = []
    for item in shares:
        if not isinstance(item, dict):
            raise ServerAnswerInvalid(host=host, what="a recovery request",
                                      reason="a share is not an object")
        sealed = _b64(item.get("share"), ServerAnswerInvalid(
            host=host, what="a recovery request", reason="a share is not base64"))
        plain = _gpg(home, ["--decrypt"], data=sealed, check=False, want_status=True)
        if plain is None:
            continue  # not to this request's key: ignored, and combine says what is missing
        opened.append(container.open_share(plain))
    return container.combine(doc["container_bytes"], opened)


# --- the custodian ---------------------------------------------------------

def my_custodian(doc, gnupghome):
    """The request's custodian whose secret key this gpg home (or smartcard) holds."""
    listing = _gpg(gnupghome, ["--with-colons", "--list-secret-keys"], check=False).decode()
    mine = set(_primary_fingerprints(listing, "sec"))
    for member in doc["custodians"]:
        if member["fingerprint"] in mine:
            return member
    raise CustodianKeyNotHere(custodians=", ".join(
        m["fingerprint"][-16:] for m in doc["custodians"]), gnupghome=gnupghome or "~/.gnupg")


def my_sealed_share(doc, fingerprint):
    parsed = container.parse(doc["container_bytes"])
    for share in parsed["shares"]:
        if share["custodian"] == fingerprint:
            return parsed, share["sealed_bytes"]
    raise container.ContainerInvalid(reason="it holds no share for %s" % fingerprint)


def reencrypt(share_plain, requester_key, requester_fpr):
    """The share, encrypted to the requester's key alone (in a throwaway gpg home)."""
    tmp = tempfile.mkdtemp(prefix="zescrow-requester-")
    try:
        _gpg(tmp, ["--import"], data=requester_key.encode())
        listing = _gpg(tmp, ["--with-colons", "--list-keys"]).decode()
        if _primary_fingerprints(listing, "pub") != [requester_fpr]:
            raise RecoveryRefused(reason="the requester's key the server sent is not the one "
                                  "it names (%s)" % requester_fpr,
                                  what_next="tell the server's administrator; nothing was sent")
        return _gpg(tmp, ["--trust-model", "always", "--encrypt", "--recipient",
                          requester_fpr], data=bytes(share_plain))
    finally:
        subprocess.run(["gpgconf", "--homedir", tmp, "--kill", "all"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def sign(gnupghome, fingerprint, statement):
    return _gpg(gnupghome, ["--armor", "--local-user", fingerprint, "--detach-sign"],
                data=statement, batch=False).decode("ascii")


def decrypt_own(gnupghome, sealed):
    """The custodian's gpg opens their share (it may ask for a PIN through pinentry)."""
    return _gpg(gnupghome, ["--decrypt"], data=sealed, batch=False)


def statement(doc, custodian, decision, reason, share):
    container_id = container.parse(doc["container_bytes"])["escrow"]
    return statements.statement(doc["id"], doc["escrow"]["id"], container_id,
                                doc["requester_fingerprint"], custodian, decision, reason, share)


# --- gpg -------------------------------------------------------------------

def _gpg(home, args, data=b"", check=True, want_status=False, batch=True):
    cmd = (GPG if batch else ["gpg", "--no-greeting", "--quiet", "--yes"]) + \
        (["--homedir", home] if home else []) + args
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=GPG_TIMEOUT)
    except FileNotFoundError:
        from pam_zescrow.errors import GpgUnavailable

        raise GpgUnavailable(binary="gpg", reason="it is not installed") from None
    except subprocess.TimeoutExpired:
        raise RecoveryRefused(reason="gpg did not finish within %d s" % GPG_TIMEOUT,
                              what_next="check your smartcard or gpg-agent; nothing was sent") \
            from None
    if proc.returncode != 0:
        if want_status or not check:
            return None if want_status else proc.stdout
        action = [a for a in args if a.startswith("--") and a not in _OPTIONS][-1:]
        raise RecoveryRefused(reason="gpg %s failed: %s" % (" ".join(action), printable(
            proc.stderr.decode("utf-8", "replace").strip()[-300:])),
            what_next="check the key with gpg --list-secret-keys; nothing was sent")
    return proc.stdout


def _primary_fingerprints(listing, kind):
    found, want = [], False
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == kind:
            want = True
        elif fields[0] == "fpr" and want:
            found.append(fields[9].upper())
            want = False
        elif fields[0] in ("sub", "ssb"):
            want = False
    return found
