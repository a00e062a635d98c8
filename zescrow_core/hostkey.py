"""A machine's host key and the vouchers it signs (enrolment, issue #13).

`zescrowctl setup URL --system --token T` makes the host key (ECDSA P-256,
pycryptodome: Debian 12's has no Ed25519) in /etc/zescrow/host.key, which
only root can read, and registers its public half with the server. A
server with `enrolment = "required"` then takes an upload only with a
voucher: a statement, signed by an enrolled, unrevoked host's key, that
local user U of host H may upload until a time:

    {"format": "zescrow-voucher", "version": 1, "host": H, "user": U,
     "nonce": 16 hex, "not_after": ISO time}    (canonical JSON)

The PAM hook signs one for the user at the login that escrows, in a
short-lived child that still runs as root, before anything drops to the
user: the user's processes get the voucher, never the key. So a user of an
enrolled machine can upload under their own name, for a while; a stranger,
or a machine that was never enrolled or was revoked, cannot.
"""

import base64
import datetime as dt
import json
import os
import secrets

FORMAT, VERSION = "zescrow-voucher", 1
VOUCHER_DAYS = 7  # zescrowd may wait offline this long before it uploads
MAX_VOUCHER = 1024


def generate(path):
    """A new host key at `path` (0600); returns its public half (base64 DER)."""
    from Cryptodome.PublicKey import ECC

    key = ECC.generate(curve="P-256")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.export_key(format="PEM"))
    return public_of(key)


def public_of(key):
    return base64.b64encode(key.public_key().export_key(format="DER")).decode("ascii")


def load_public(path):
    from Cryptodome.PublicKey import ECC

    with open(path) as f:
        return public_of(ECC.import_key(f.read()))


def voucher(key_path, host_id, user, now=None):
    """(statement bytes, signature base64) for `user` of this host."""
    now = now or dt.datetime.now(dt.timezone.utc)
    doc = {"format": FORMAT, "version": VERSION, "host": host_id, "user": user,
           "nonce": secrets.token_hex(8),
           "not_after": (now + dt.timedelta(days=VOUCHER_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    statement = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return statement, sign(key_path, statement)


def sign(key_path, data):
    from Cryptodome.Hash import SHA256
    from Cryptodome.PublicKey import ECC
    from Cryptodome.Signature import DSS

    with open(key_path) as f:
        key = ECC.import_key(f.read())
    return base64.b64encode(DSS.new(key, "deterministic-rfc6979").sign(
        SHA256.new(data))).decode("ascii")


def verify(public_b64, data, signature_b64):
    """Whether `signature_b64` is the host key's signature of `data`."""
    from Cryptodome.Hash import SHA256
    from Cryptodome.PublicKey import ECC
    from Cryptodome.Signature import DSS

    try:
        key = ECC.import_key(base64.b64decode(public_b64, validate=True))
        DSS.new(key, "fips-186-3").verify(SHA256.new(data),
                                          base64.b64decode(signature_b64, validate=True))
        return True
    except (ValueError, TypeError, IndexError):
        return False


def parse_voucher(statement):
    """The voucher's fields, or None if it is not one (types and format checked)."""
    if len(statement) > MAX_VOUCHER:
        return None
    try:
        doc = json.loads(statement)
    except (ValueError, UnicodeDecodeError, RecursionError):  # "[[[[…": too deep for json
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or \
            type(doc.get("version")) is not int or doc["version"] != VERSION:  # not True, 1.0
        return None
    if not all(isinstance(doc.get(k), str) for k in ("host", "user", "nonce", "not_after")):
        return None
    try:
        doc["not_after_time"] = dt.datetime.strptime(doc["not_after"], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return doc
