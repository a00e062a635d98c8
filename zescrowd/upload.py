"""Upload one spool entry to its server, over verified TLS, and check the answer.

Every answer is bounded (contract.MAX_JSON) and parsed against the contract
(contract.py) before it is used; the server's own words (an error message,
a fingerprint) go into our errors only escaped and cut short, since status,
the log and a notification show them.
"""

import hashlib
from urllib.parse import urlsplit

from pam_zescrow import __version__, defaults
from pam_zescrow.errors import UnreadableFile
from pam_zescrow.printable import printable

from . import contract, http
from .errors import (ChecksumMismatch, FileRefused, KeyChanged, RateLimited, Refused,
                     ServerAnswerInvalid, ServerFailed, ServerTooSlow, ServerUnreachable,
                     TlsFailed)
from .files import NotAFile, read_regular

TIMEOUT = (10, 30)  # connect, read; http.DEADLINE bounds the whole request
MAX_WORDS = 200  # of the server's own words in an error message
MAX_RETRY_AFTER = 3600


# What the spool holds, by the enrolment's recovery mode when it was sealed.
CONTENT_TYPES = {"server": "application/pgp-encrypted",
                 "custodians": "application/vnd.zescrow.custodians+json"}


def get(cfg, url, path, headers=None):
    return _request(cfg, url, "GET", path, headers=headers)


def server_info(cfg, url):
    """GET /.well-known/zescrow.json, with the same error classification as an upload."""
    return contract.server_info(get(cfg, url, "/.well-known/zescrow.json"), _host(url))


def check_key(cfg, url, pinned):
    info = server_info(cfg, url)
    actual = info["fingerprint"].upper()
    if actual != pinned.upper():
        raise KeyChanged(host=_host(url), actual=_words(actual, 64) or "none", expected=pinned,
                         url=url)
    return info


def _voucher_headers(voucher):
    """The enrolled host's voucher for this upload (#13), when the hook made one: only
    base64 goes into a header (the spool is the user's; the server checks the signature)."""
    import re

    if not isinstance(voucher, dict):
        return {}
    statement, signature = voucher.get("statement"), voucher.get("signature")
    if not all(isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9+/=]{1,2048}", v)
               for v in (statement, signature)):
        return {}
    return {"X-Zescrow-Voucher": statement, "X-Zescrow-Voucher-Signature": signature}


def upload(cfg, entry):
    """POST the sealed archive; return the server's answer (dict) once it checks out."""
    url = (entry.meta.get("server_url") or cfg.url).rstrip("/")
    check_key(cfg, url, entry.meta.get("fingerprint") or cfg.fingerprint)
    sealed = _sealed(entry)
    headers = {"Content-Type": CONTENT_TYPES[entry.meta.get("recovery", "server")],
               "X-Zescrow-Host": entry.meta.get("host", ""),
               "X-Zescrow-User": entry.meta.get("user", ""),
               "X-Zescrow-Client-Version": __version__}
    headers.update(_voucher_headers(entry.meta.get("voucher")))
    r = _request(cfg, url, "POST", "/api/v1/escrows", body=sealed, headers=headers)
    answer = contract.created(r, _host(url))
    sent = hashlib.sha256(sealed).hexdigest()
    if answer["sha256"] != sent:
        raise ChecksumMismatch(host=_host(url), got=_words(answer["sha256"], 80), sent=sent)
    return dict(answer, server_url=url)


def status(cfg, record):
    """GET /api/v1/escrows/{id} with the upload token, checked against the contract."""
    url = record["server_url"]
    if not (contract.is_name(record.get("id")) and contract.is_name(record.get("upload_token"))):
        raise ServerAnswerInvalid(host=_host(url), what="the escrow recorded in state.json",
                                  reason="its id or upload token is not a plain name")
    r = get(cfg, url, "/api/v1/escrows/%s" % record["id"],
            {"Authorization": "Bearer " + record["upload_token"]})
    return contract.escrow_status(r, _host(url))


def _request(cfg, url, method, path, body=None, headers=None):
    try:
        r = http.request(method, url + path, body=body, headers=headers,
                         verify=cfg.verify_for(url), timeout=TIMEOUT,
                         max_body=contract.MAX_JSON)
    except http.NetworkError as err:
        raise _network_error(err, cfg, url, "%s %s" % (method, path)) from None
    _raise_for_status(r, url)
    return r


def _sealed(entry):
    # The spool is the user's folder: a fifo or a device there must not hold the daemon.
    try:
        return read_regular(entry.sealed_path, defaults.MAX_ARCHIVE_BYTES * 4)
    except NotAFile as err:
        raise err.as_error(FileRefused) from None
    except OSError as err:
        raise UnreadableFile(path=entry.sealed_path, reason=err.strerror or str(err)) from None


def _raise_for_status(r, url):
    if r.status_code < 400:
        return
    error, reason = _server_says(r)
    host = _host(url)
    if r.status_code == 429:
        seconds = r.headers.get("retry-after", "60")
        seconds = int(seconds) if seconds.isascii() and seconds.isdigit() else 60
        raise RateLimited(host=host, seconds=min(seconds, MAX_RETRY_AFTER))
    if r.status_code >= 500:
        raise ServerFailed(host=host, status=r.status_code, reason=reason)
    raise Refused(host=host, status=r.status_code, error=error, reason=reason)


def _server_says(r):
    try:
        body = contract.json_object(r, "", "")
    except ServerAnswerInvalid:
        return "?", _words(r.text.strip()) or "no reason given"
    return _words(body.get("error", "?")), _words(body.get("message") or "no reason given")


def _words(text, limit=MAX_WORDS):
    """The server's words, as they may go into a message: escaped and cut short."""
    text = printable(text if isinstance(text, str) else repr(text))
    return text if len(text) <= limit else text[:limit] + "…"


def _network_error(err, cfg, url, what):
    if isinstance(err, http.TooSlow):
        return ServerTooSlow(host=_host(url), seconds="%g" % err.seconds)
    if isinstance(err, http.TooLarge):
        return ServerAnswerInvalid(host=_host(url), what=what, reason=err.reason)
    if err.tls:
        return TlsFailed(host=_host(url), reason=err.reason, conf=cfg.source, url=url)
    return ServerUnreachable(host=_host(url), reason=err.reason)


def _host(url):
    parts = urlsplit(url)
    return parts.netloc or url


def as_record(error):
    return {"code": error.code, "message": error.text, "hint": error.hint_text}
