"""The server's JSON answers, checked against the contract before anything uses them.

DESIGN.md "Server HTTP contract" says what each answer holds; anything else
(not JSON, not an object, a field missing or of the wrong type, an id or a
token that could not go into a URL path or a header as it is) is
ServerAnswerInvalid, a transient upload error: recorded with its cause and
retried with backoff, never a traceback, and the archive stays in the spool
until a good answer acknowledges it (S8). Free text the server sends
(verification_error) is kept bounded and with its control characters
escaped. Whether the claim link may be opened is claimurl.py's question.
"""

import json
import string

from pam_zescrow.printable import printable

from .errors import ServerAnswerInvalid
from .formats import seconds_until

MAX_JSON = 64 * 1024  # far above any answer of the contract, far below a flood
MAX_TEXT = 1000
STATES = ("unclaimed", "claimed", "expired")
# client-checked: custodians mode; the server cannot open the escrow, the
# client verified it against Private.sig before sealing (docs/DESIGN.md).
VERIFICATIONS = ("pending", "verified", "failed", "client-checked")
_NAME = frozenset(string.ascii_letters + string.digits + "-_.~")


def is_name(value):
    """An id or token that is one URL path segment and a header value as it is."""
    return isinstance(value, str) and 0 < len(value) <= 256 and set(value) <= _NAME \
        and value not in (".", "..")


def is_time(value):
    return isinstance(value, str) and seconds_until(value) is not None


def is_text(value):
    return isinstance(value, str)


def json_object(r, host, what):
    """The answer's JSON object, or ServerAnswerInvalid."""
    try:
        obj = json.loads(r.content)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ServerAnswerInvalid(host=host, what=what, reason="it is not JSON") from None
    if not isinstance(obj, dict):
        raise ServerAnswerInvalid(host=host, what=what, reason="it is JSON, but not an object")
    return obj


def fields(obj, host, what, required=(), optional=()):
    """Check each (name, test, what it must be): the required ones are there and
    right, the optional ones absent, null or right. Returns the object."""
    for specs, needed in ((required, True), (optional, False)):
        for name, test, kind in specs:
            value = obj.get(name)
            if value is None and not needed:
                continue
            if name not in obj:
                raise ServerAnswerInvalid(host=host, what=what, reason="it has no %s" % name)
            if not test(value):
                raise ServerAnswerInvalid(host=host, what=what, reason="its %s is not %s"
                                          % (name, kind))
    return obj


def created(r, host):
    """The 201 of POST /api/v1/escrows."""
    what = "POST /api/v1/escrows"
    return fields(json_object(r, host, what), host, what, required=(
        ("id", is_name, "a plain name"), ("claim_url", is_text, "text"),
        ("sha256", is_text, "text"), ("upload_token", is_name, "a plain name"),
        ("claim_expires_at", is_time, "a time")))


def escrow_status(r, host):
    """The answer of GET /api/v1/escrows/{id}, its free text bounded and escaped."""
    what = "GET /api/v1/escrows/ID"
    obj = fields(json_object(r, host, what), host, what, required=(
        ("state", STATES.__contains__, "one of " + ", ".join(STATES)),
        ("verification", VERIFICATIONS.__contains__, "one of " + ", ".join(VERIFICATIONS))),
        optional=(("verification_error", is_text, "text"), ("claimed_at", is_time, "a time"),
                  ("claim_expires_at", is_time, "a time")))
    error = obj.get("verification_error")
    return dict(obj, verification_error=None if error is None else printable(error[:MAX_TEXT]))


def server_info(r, host):
    """The answer of GET /.well-known/zescrow.json."""
    what = "GET /.well-known/zescrow.json"
    return fields(json_object(r, host, what), host, what,
                  required=(("fingerprint", is_text, "text"),))
