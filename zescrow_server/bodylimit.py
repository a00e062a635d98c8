"""Every request body is bounded before anything reads it (S7).

Starlette parses a form (the 2012 client's deposit, the claim's POST)
before a route runs: 128 MiB url-encoded cost one worker 25 s, and a
multipart file part went to /tmp without bound. This pure ASGI
middleware answers 413 (`too-large`, the contract's JSON error) before
the application sees the request: at once when Content-Length is over
the path's limit, and otherwise as soon as the streamed body passes it
(chunked transfer announces no length). Then the application's own answer
to the cut-off body is dropped and the 413 sent instead.

The limits: an upload (`max_upload_bytes`), the deposit form (its armored
payload is about 4/3 of the binary, url-encoding adds a few percent), and
a host's coverage report (256 KiB), and 16 KiB for every other path — a
claim's CSRF token, a login form.
"""

import json
import re

from .errors import TooLarge

SMALL_BODY = 16 * 1024
REPORTS = re.compile(r"/api/v1/hosts/[^/]{1,64}/reports")
MAX_REPORT = 256 * 1024  # coverage/service.py: a report of up to 1,000 users


def limits(settings):
    """The body limit of each path that takes more than SMALL_BODY."""
    return {"/api/v1/escrows": settings.max_upload_bytes,
            "/deposit/index.html": 2 * settings.max_upload_bytes + SMALL_BODY,
            REPORTS: MAX_REPORT}


def _limit(limits, path, default):
    if path in limits:
        return limits[path]
    for pattern, limit in limits.items():
        if not isinstance(pattern, str) and pattern.fullmatch(path):
            return limit
    return default


class _Over(Exception):
    """The body went past its limit while the application read it."""


class BodyLimit:
    def __init__(self, app, limits, default=SMALL_BODY):
        self.app, self.limits, self.default = app, limits, default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = _limit(self.limits, scope["path"], self.default)
        length = _content_length(scope)
        if length is not None and length > limit:
            return await _refuse(send, limit, length)
        seen, over, started = 0, False, False

        async def bounded_receive():
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                over = True
                raise _Over()
            return message

        async def guarded_send(message):
            nonlocal started
            if not over:  # once over, the application's answer gives way to the 413
                started = True
                await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:  # noqa: BLE001 — whatever reading a cut-off body raised
            if not over:
                raise
        if over and not started:
            await _refuse(send, limit)


def _content_length(scope):
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send, limit, length=None):
    err = TooLarge(limit, length)
    body = json.dumps(err.as_json()).encode()
    # No "connection: close": uvicorn then reads what is left of the body and
    # drops it, unparsed (until the request deadline), so that a client still
    # sending gets to read this answer instead of a reset connection.
    await send({"type": "http.response.start", "status": err.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
