"""HostileServer: a real HTTPS server that answers whatever a test tells it to.

The real zescrow-server never sends a claim link to another host, a 10 MB
answer or a byte every few seconds; a compromised or broken one might.
This is a real server on 127.0.0.1 (the test CA's certificate, so TLS
verifies), not a mock: zescrowd and zescrowctl talk to it over the network
exactly as to the real one. It publishes the real key's fingerprint, so
uploads get as far as the answer under test.
"""

import hashlib
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.common.servers import free_port

MISSING = object()  # created(id=MISSING): leave the field out of the answer


class HostileServer:
    def __init__(self, tls_dir, fingerprint):
        self.fingerprint = fingerprint
        self.requests = []  # (method, path) in arrival order
        self.routes = {}  # (method, path prefix) -> responder(handler, body)
        self.stop = threading.Event()
        self.port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.on("GET", "/.well-known/zescrow.json", json_answer(200, {
            "api": 1, "fingerprint": fingerprint, "claim_window_seconds": 86400,
            "max_upload_bytes": 1 << 20}))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def on(self, method, prefix, responder):
        self.routes[(method, prefix)] = responder

    def posts(self):
        return sum(1 for method, _ in self.requests if method == "POST")

    def respond(self, handler, body):
        self.requests.append((handler.command, handler.path))
        matches = [(len(p), r) for (m, p), r in self.routes.items()
                   if m == handler.command and handler.path.startswith(p)]
        if not matches:
            return send(handler, 404, b'{"error": "not-found", "message": "no route"}')
        max(matches, key=lambda m: m[0])[1](handler, body)

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _any(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                server.respond(self, body)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the client gave up on the answer: that may be the point

        do_GET = do_POST = do_DELETE = _any

    return Handler


def send(handler, status, data, content_type="application/json", length=None):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data) if length is None else length))
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()


def json_answer(status, obj):
    return lambda handler, body: send(handler, status, json.dumps(obj).encode())


def raw_answer(status, data, content_type="application/json"):
    return lambda handler, body: send(handler, status, data, content_type)


def created(**fields):
    """A 201 as the contract has it (sha256 of what was received), with `fields` changed."""
    def answer(handler, body):
        obj = {"id": "a" * 32, "claim_url": "https://127.0.0.1:%d/claim/tok" % handler.server
               .server_address[1], "sha256": hashlib.sha256(body).hexdigest(),
               "upload_token": "u" * 32, "claim_expires_at": "2030-01-01T00:00:00Z"}
        obj.update(fields)
        send(handler, 201, json.dumps({k: v for k, v in obj.items() if v is not MISSING})
             .encode())
    return answer


def escrow_status(**fields):
    """A GET /api/v1/escrows/ID answer as the contract has it, with `fields` changed."""
    obj = {"id": "a" * 32, "state": "unclaimed", "verification": "pending",
           "verification_error": None, "claimed_at": None,
           "claim_expires_at": "2030-01-01T00:00:00Z", "sha256": "0" * 64}
    obj.update(fields)
    return json_answer(200, {k: v for k, v in obj.items() if v is not MISSING})


def trickle(server, where, every=1.0, lasting=60.0):
    """Answer slowly: with where="headers", the status line and then one header byte
    every `every` seconds; with where="body", all headers (a 1000-byte body
    announced) and then one body byte every `every` seconds."""
    def answer(handler, body):
        handler.wfile.write(b"HTTP/1.1 201 Created\r\n")
        if where == "body":
            handler.wfile.write(b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        handler.wfile.flush()
        until = time.monotonic() + lasting
        while time.monotonic() < until and not server.stop.wait(every):
            handler.wfile.write(b" " if where == "body" else b"X")
            handler.wfile.flush()
    return answer
