"""Which claim link zescrow shows and opens: only https:// on the pinned server's origin.

The server's answer names the claim link, and a compromised or misconfigured
server could name anything: file:///etc/passwd, javascript:, a look-alike
host, an option for xdg-open, a .desktop file on a share, escape sequences
for the terminal, markup for the notification. A link is accepted only if
it is https:// on exactly the scheme, host and port of the server the
archive went to, and made only of characters a URL may hold (a conservative
part of RFC 3986). No "@" and no backslash: parsers disagree on which host
`https://a\\@b/` or `https://a@b/` names, and the one that opens the link
must not read another host than the one checked here. Anything else is
refused: the escrow is recorded without a link, with the reason, and the
server's origin is shown instead. The check runs again wherever a link is
used, since state.json may hold one that an older version accepted.
"""

import string
from urllib.parse import urlsplit

from .errors import ClaimUrlRefused

MAX_LENGTH = 2048
_ALLOWED = frozenset(string.ascii_letters + string.digits + "-._~/?#[]:=&+,;%")


def problem(url, server_url):
    """Why `url` is not a claim link to open for the server at `server_url`, or None.

    The reason is zescrow's own words: nothing of the link is repeated in it.
    """
    if not isinstance(url, str) or not url:
        return "it is not text"
    if len(url) > MAX_LENGTH:
        return "it is longer than %d characters" % MAX_LENGTH
    odd = next((c for c in url if c not in _ALLOWED), None)
    if odd is not None:
        return "it holds the character U+%04X, which a link zescrow opens may not hold" % ord(odd)
    if not url.lower().startswith("https://"):
        return "it is not an https:// link"
    parts, server = urlsplit(url), urlsplit(server_url)
    try:
        port = parts.port or 443
    except ValueError:
        return "its port is not a number"
    if parts.hostname != server.hostname:
        return "it leads to another host"
    if port != (server.port or 443):
        return "it leads to another port"
    return None


def origin(server_url):
    """What is shown instead of a refused link: https://HOST[:PORT]/ of the server."""
    parts = urlsplit(server_url)
    return "%s://%s/" % (parts.scheme, parts.netloc)


def refusal(url, server_url):
    """ClaimUrlRefused for a link that is not one to open, or None for a good one."""
    why = problem(url, server_url)
    if why is None:
        return None
    return ClaimUrlRefused(host=urlsplit(server_url).netloc, origin=origin(server_url),
                           reason=why)


def checked(record):
    """(the claim link of an escrow record, None), or (None, ClaimUrlRefused)."""
    server_url = record.get("server_url") or ""
    refused = record.get("claim_url_refused")
    if refused:
        return None, ClaimUrlRefused(host=urlsplit(server_url).netloc,
                                     origin=origin(server_url), reason=refused.get("reason"))
    error = refusal(record.get("claim_url"), server_url)
    return (None, error) if error else (record["claim_url"], None)


def as_record(error):
    """How a refusal is kept in state.json (and shown by status --format json)."""
    return {"code": error.code, "message": error.text, "hint": error.hint_text,
            "reason": error.details["reason"]}
