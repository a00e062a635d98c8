"""Custodians mode: an archive only k of n custodians can open together.

The server stores such an escrow but cannot read it (issue #12). The
archive is encrypted with a fresh random 128-bit key (AES-128-GCM); the key
is split k-of-n with Shamir's scheme (pycryptodome's, over GF(2^128): a
library, not our arithmetic), and each share is sealed with gpg to one
custodian. The container is versioned JSON (docs/formats.md,
"zescrow-custodians/1"):

    seal(archive, custodian keys, k)       → container bytes   (the client)
    check(container, published k and keys) → its structure     (the server: no secret)
    open_share(share plaintext)            → a Share            (after a custodian decrypted it)
    combine(container, shares)             → the archive        (the requesting client)

What binds what:
- the GCM additional data is the header (format, version, threshold,
  custodians): changing k or the set breaks the tag;
- each share names the escrow it belongs to (the SHA-256 of nonce and
  ciphertext): a share of another escrow is refused before any arithmetic;
- fewer than k shares are refused; k wrong ones fail the tag.
"""

import base64
import binascii
import hashlib
import json

from pam_zescrow import openpgp

from .errors import ContainerInvalid, ShareInvalid, ThresholdNotMet

FORMAT, VERSION = "zescrow-custodians", 1
# Version 2 of a share names its owner (user and host, as the sealing client
# knew them): a custodian sees whose key they help to open from the share
# itself, which the server cannot change, not only from what the server says.
SHARE_FORMAT, SHARE_VERSION = "zescrow-custodian-share", 2
KEY_BYTES, NONCE_BYTES = 16, 12
MAX_CONTAINER_BYTES = 256 * 1024
MAX_CUSTODIANS = 16


class Share:
    """One custodian's share, decrypted: which escrow, whose, which x, the 16 bytes."""

    def __init__(self, escrow, index, value, threshold, owner):
        self.escrow, self.index, self.value, self.threshold = escrow, index, value, threshold
        self.owner = owner  # {"user", "host"}

    def __repr__(self):  # the value is a piece of a key: never shown
        return "<Share %d of escrow %s…, hidden>" % (self.index, self.escrow[:12])


def header(threshold, custodians):
    """What the GCM tag authenticates: canonical JSON, custodians in the given order."""
    return _canonical({"format": FORMAT, "version": VERSION, "threshold": threshold,
                       "custodians": list(custodians)})


def seal(archive, custodians, threshold, encrypt_to, owner):
    """The container for `archive`, openable by `threshold` of `custodians`.

    `custodians`: the pinned fingerprints, in their pinned order.
    `encrypt_to(fingerprint, data)`: seals bytes to one custodian (gpg).
    `owner`: {"user", "host"} whose key it is, written into every share.
    """
    from Cryptodome.Cipher import AES
    from Cryptodome.Protocol.SecretSharing import Shamir
    from Cryptodome.Random import get_random_bytes

    custodians = list(custodians)
    _check_shape(threshold, custodians, ContainerInvalid)
    key, nonce = bytearray(get_random_bytes(KEY_BYTES)), get_random_bytes(NONCE_BYTES)
    try:
        cipher = AES.new(bytes(key), AES.MODE_GCM, nonce=nonce)
        cipher.update(header(threshold, custodians))
        ciphertext, tag = cipher.encrypt_and_digest(archive)
        body = ciphertext + tag
        escrow = _escrow_id(nonce, body)
        shares = Shamir.split(threshold, len(custodians), bytes(key))
    finally:
        key[:] = bytes(len(key))  # the bytes() copies above cannot be wiped (secret.py)
    sealed = []
    for fingerprint, (index, value) in zip(custodians, shares):
        plain = _canonical({"format": SHARE_FORMAT, "version": SHARE_VERSION, "escrow": escrow,
                            "index": index, "threshold": threshold, "share": value.hex(),
                            "owner": {"user": str(owner["user"]), "host": str(owner["host"])}})
        sealed.append({"custodian": fingerprint,
                       "sealed": _b64(encrypt_to(fingerprint, plain))})
    return _canonical({"format": FORMAT, "version": VERSION, "threshold": threshold,
                       "custodians": custodians, "cipher": "AES-128-GCM",
                       "nonce": _b64(nonce), "ciphertext": _b64(body), "shares": sealed})


def parse(data):
    """The container as a dict, its fields checked for type and bounds."""
    if len(data) > MAX_CONTAINER_BYTES:
        raise ContainerInvalid(reason="it is over %d bytes" % MAX_CONTAINER_BYTES)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ContainerInvalid(reason="it is not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ContainerInvalid(reason="it is not a %s container" % FORMAT)
    if doc.get("version") != VERSION:
        raise ContainerInvalid(reason="version %r is not %d, the one this zescrow reads"
                               % (doc.get("version"), VERSION))
    custodians, threshold = doc.get("custodians"), doc.get("threshold")
    if not isinstance(custodians, list) or not all(isinstance(c, str) for c in custodians):
        raise ContainerInvalid(reason="its custodians are not a list of fingerprints")
    _check_shape(threshold, custodians, ContainerInvalid)
    shares = doc.get("shares")
    if not isinstance(shares, list) or len(shares) != len(custodians):
        raise ContainerInvalid(reason="it must carry one share per custodian")
    for share, fingerprint in zip(shares, custodians):
        if not isinstance(share, dict) or share.get("custodian") != fingerprint:
            raise ContainerInvalid(reason="the shares are not in the custodians' order")
        share["sealed_bytes"] = _unb64(share.get("sealed"), "a sealed share")
    if doc.get("cipher") != "AES-128-GCM":
        raise ContainerInvalid(reason="cipher %r is not AES-128-GCM" % doc.get("cipher"))
    doc["nonce_bytes"] = _unb64(doc.get("nonce"), "the nonce")
    doc["ciphertext_bytes"] = _unb64(doc.get("ciphertext"), "the ciphertext")
    if len(doc["nonce_bytes"]) != NONCE_BYTES or len(doc["ciphertext_bytes"]) < 16:
        raise ContainerInvalid(reason="its nonce or ciphertext has the wrong length")
    doc["escrow"] = _escrow_id(doc["nonce_bytes"], doc["ciphertext_bytes"])
    return doc


def check(data, threshold, custodian_key_ids):
    """The server's check on upload, without any key: the published k, exactly
    the published custodians in order, each share sealed to that custodian's
    encryption key. `custodian_key_ids`: [(fingerprint, {key IDs})], in order."""
    doc = parse(data)
    if doc["threshold"] != threshold:
        raise ContainerInvalid(reason="its threshold is %d; this server publishes %d"
                               % (doc["threshold"], threshold))
    published = [fpr for fpr, _ in custodian_key_ids]
    if doc["custodians"] != published:
        raise ContainerInvalid(reason="its custodians are not the ones this server publishes "
                               "(run zescrowctl setup again to pin the current set)")
    for share, (fpr, key_ids) in zip(doc["shares"], custodian_key_ids):
        try:
            recipients = set(openpgp.recipients(share["sealed_bytes"]))
        except openpgp.NotOpenPGP as err:
            raise ContainerInvalid(reason="the share for %s is not an OpenPGP message (%s)"
                                   % (fpr, err)) from None
        if not recipients or not recipients <= set(key_ids):
            raise ContainerInvalid(reason="the share for %s is not sealed to that custodian's "
                                   "key alone" % fpr)
    return doc


def open_share(plain):
    """A custodian's decrypted share (the bytes their gpg gave back)."""
    try:
        doc = json.loads(bytes(plain))
        ok = (isinstance(doc, dict) and doc.get("format") == SHARE_FORMAT
              and doc.get("version") == SHARE_VERSION)
        value = bytes.fromhex(doc["share"]) if ok else b""
        index, threshold, escrow, owner = (doc["index"], doc["threshold"], doc["escrow"],
                                           doc["owner"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ShareInvalid(reason="it is not a zescrow custodian share (version %d)"
                           % SHARE_VERSION) from None
    if not ok or len(value) != KEY_BYTES or not isinstance(index, int) or \
            not isinstance(threshold, int) or not isinstance(escrow, str) or \
            not isinstance(owner, dict) or not all(isinstance(owner.get(k), str)
                                                   for k in ("user", "host")):
        raise ShareInvalid(reason="it is not a zescrow custodian share (version %d)"
                           % SHARE_VERSION)
    return Share(escrow, index, value, threshold, {"user": owner["user"], "host": owner["host"]})


def combine(data, shares):
    """The archive, from the container and at least k of its shares."""
    from Cryptodome.Cipher import AES
    from Cryptodome.Protocol.SecretSharing import Shamir

    doc = parse(data)
    mine = {}
    for share in shares:
        if share.escrow != doc["escrow"]:
            raise ShareInvalid(reason="share %d belongs to another escrow" % share.index)
        mine[share.index] = share
    if len(mine) < doc["threshold"]:
        raise ThresholdNotMet(have=len(mine), need=doc["threshold"])
    chosen = sorted(mine.values(), key=lambda s: s.index)[:doc["threshold"]]
    key = Shamir.combine([(s.index, s.value) for s in chosen])
    cipher = AES.new(key, AES.MODE_GCM, nonce=doc["nonce_bytes"])
    cipher.update(header(doc["threshold"], doc["custodians"]))
    body = doc["ciphertext_bytes"]
    try:
        return cipher.decrypt_and_verify(body[:-16], body[-16:])
    except ValueError:
        raise ShareInvalid(reason="the shares do not open this escrow (a share is wrong or "
                           "the container was changed)") from None


def threshold_fits(threshold, n):
    """The one rule for k of n: 2 <= k <= n <= MAX_CUSTODIANS, or a single custodian
    (k = n = 1). Config, server init, setup and the container all ask this."""
    return (isinstance(threshold, int) and not isinstance(threshold, bool)
            and (2 <= threshold <= n <= MAX_CUSTODIANS or threshold == n == 1))


def _check_shape(threshold, custodians, error):
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise error(reason="its threshold is not a whole number")
    if not 1 <= len(custodians) <= MAX_CUSTODIANS:
        raise error(reason="it must have 1 to %d custodians" % MAX_CUSTODIANS)
    if len(set(custodians)) != len(custodians):
        raise error(reason="a custodian is listed twice")
    if not threshold_fits(threshold, len(custodians)):
        raise error(reason="a threshold of %d does not fit %d custodians (2 <= k <= n)"
                    % (threshold, len(custodians)))


def _escrow_id(nonce, body):
    return hashlib.sha256(nonce + body).hexdigest()


def _canonical(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text, what):
    if not isinstance(text, str):
        raise ContainerInvalid(reason="%s is missing" % what)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ContainerInvalid(reason="%s is not base64" % what) from None
