"""What every answer tells the browser: no scripts, no framing, no referrer, HTTPS only.

The pages have no script and one inline style sheet; the API answers
JSON. So the policy can be strict: nothing is loaded but that style, no
site may frame a page (clickjacking the claim or download button), and
no referrer leaves the site (a claim URL holds its token). HSTS only when
the public URL is HTTPS (also behind a TLS proxy, which forwards it).
"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers to every response, streamed or not."""

    def __init__(self, app, hsts=True):
        self.app = app
        self.headers = [(b"content-security-policy", CSP.encode()),
                        (b"x-frame-options", b"DENY"),
                        (b"referrer-policy", b"no-referrer"),
                        (b"x-content-type-options", b"nosniff")]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in self.headers if h[0] not in present]
            await send(message)

        return await self.app(scope, receive, send_with_headers)
