"""Upload one spool entry to its server, over verified TLS, and check the answer."""

import hashlib
from urllib.parse import urlsplit

from pam_zescrow import __version__

from . import http

from .errors import (ChecksumMismatch, KeyChanged, RateLimited, Refused, ServerFailed,
                     ServerUnreachable, TlsFailed)

TIMEOUT = (10, 30)  # connect, read


def get(cfg, url, path, headers=None):
    try:
        r = http.request("GET", url + path, headers=headers, verify=cfg.verify_for(url),
                         timeout=TIMEOUT)
    except http.NetworkError as err:
        raise _network_error(err, cfg, url) from None
    _raise_for_status(r, url)
    return r


def server_info(cfg, url):
    """GET /.well-known/zescrow.json, with the same error classification as an upload."""
    r = get(cfg, url, "/.well-known/zescrow.json")
    try:
        return r.json()
    except ValueError:
        raise ServerFailed(host=_host(url), status=r.status_code,
                           reason="/.well-known/zescrow.json is not JSON") from None


def check_key(cfg, url, pinned):
    info = server_info(cfg, url)
    actual = str(info.get("fingerprint", "")).upper()
    if actual != pinned.upper():
        raise KeyChanged(host=_host(url), actual=actual or "none", expected=pinned, url=url)
    return info


def upload(cfg, entry):
    """POST the sealed archive; return the server's answer (dict) once it checks out."""
    url = (entry.meta.get("server_url") or cfg.url).rstrip("/")
    check_key(cfg, url, entry.meta.get("fingerprint") or cfg.fingerprint)
    with open(entry.sealed_path, "rb") as f:
        sealed = f.read()
    headers = {"Content-Type": "application/pgp-encrypted",
               "X-Zescrow-Host": entry.meta.get("host", ""),
               "X-Zescrow-User": entry.meta.get("user", ""),
               "X-Zescrow-Client-Version": __version__}
    try:
        r = http.request("POST", url + "/api/v1/escrows", body=sealed, headers=headers,
                         verify=cfg.verify_for(url), timeout=TIMEOUT)
    except http.NetworkError as err:
        raise _network_error(err, cfg, url) from None
    _raise_for_status(r, url)
    answer = r.json()
    sent = hashlib.sha256(sealed).hexdigest()
    if answer.get("sha256") != sent:
        raise ChecksumMismatch(host=_host(url), got=answer.get("sha256"), sent=sent)
    return dict(answer, server_url=url)


def status(cfg, record):
    """GET /api/v1/escrows/{id} with the upload token."""
    return get(cfg, record["server_url"], "/api/v1/escrows/%s" % record["id"],
               {"Authorization": "Bearer " + record["upload_token"]}).json()


def _raise_for_status(r, url):
    if r.status_code < 400:
        return
    error, reason = _server_says(r)
    host = _host(url)
    if r.status_code == 429:
        seconds = r.headers.get("Retry-After", "60")
        raise RateLimited(host=host, seconds=int(seconds) if seconds.isdigit() else 60)
    if r.status_code >= 500:
        raise ServerFailed(host=host, status=r.status_code, reason=reason)
    raise Refused(host=host, status=r.status_code, error=error, reason=reason)


def _server_says(r):
    try:
        body = r.json()
        return body.get("error", "?"), body.get("message", "no reason given")
    except (ValueError, AttributeError):
        return "?", (r.text or "no reason given").strip()[:200]


def _network_error(err, cfg, url):
    if err.tls:
        return TlsFailed(host=_host(url), reason=err.reason, conf=cfg.source, url=url)
    return ServerUnreachable(host=_host(url), reason=err.reason)


def _host(url):
    parts = urlsplit(url)
    return parts.netloc or url


def as_record(error):
    return {"code": error.code, "message": error.text, "hint": error.hint_text}

