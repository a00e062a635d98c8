"""A deadline for reading each request: a slow client is cut off, not waited for.

uvicorn waits for a request line, its headers and its body as long as bytes
keep coming, and not at all for a new connection that sends nothing; a
client that trickles a byte every ten seconds (slowloris) holds a
connection, and a file descriptor, for ever. Here every request must be
in — from its first byte (or from the connection's start, for the first
one) to the end of its body — within `request_timeout_seconds`; if not,
the server answers 408 when it still can and closes the connection. The
TLS handshake gets the same deadline (asyncio's default is 60 s). Idle
time between requests is uvicorn's keep-alive timeout (gunicorn's
`keepalive`), and the time the application takes to answer is not counted.

gunicorn loads the worker by name, on Debian 12's gunicorn 20.1 as on
newer ones; the worker reads the deadline from the settings and gives
uvicorn this module's protocol (h11, the parser both stacks use).
"""

import asyncio
import functools
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import RequestTimeout

try:  # uvicorn moved its gunicorn worker to the uvicorn-worker package
    from uvicorn_worker import UvicornWorker
except ImportError:  # Debian 12's uvicorn 0.17 still has it built in
    from uvicorn.workers import UvicornWorker

CHECK_EVERY = 1.0  # seconds between a connection's looks at its clock
STILL_READING = (h11.IDLE, h11.SEND_BODY)
NOT_ANSWERED = (h11.IDLE, h11.SEND_RESPONSE)


class DeadlineProtocol(H11Protocol):
    deadline = 10.0  # the worker sets the configured value on a subclass

    def connection_made(self, transport):
        super().connection_made(transport)
        self.reading_since = self.loop.time()  # a new connection owes its first request
        self.guard = self.loop.call_later(CHECK_EVERY, self.check_deadline)

    def connection_lost(self, exc):
        self.guard.cancel()
        super().connection_lost(exc)

    def data_received(self, data):
        if self.reading_since is None:
            self.reading_since = self.loop.time()
        super().data_received(data)
        if self.conn.their_state not in STILL_READING:
            self.reading_since = None  # all of the request is in

    def on_response_complete(self):
        super().on_response_complete()
        # Bytes of the next request that arrived early start its clock; none:
        # the connection idles under uvicorn's keep-alive timeout.
        if self.conn.their_state is h11.SEND_BODY or (
                self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]):
            self.reading_since = self.reading_since or self.loop.time()
        else:
            self.reading_since = None

    def check_deadline(self):
        if self.transport.is_closing():
            return
        since = self.reading_since
        if since is not None and self.loop.time() - since > self.deadline:
            self.cut_off()
            return
        self.guard = self.loop.call_later(CHECK_EVERY, self.check_deadline)

    def cut_off(self):
        started = self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0]
        if started and self.conn.our_state in NOT_ANSWERED:
            self.transport.write(timeout_response(self.deadline))
        # The application, if it waits for the body, hears of a disconnect.
        self.transport.close()


def timeout_response(deadline):
    body = json.dumps(RequestTimeout(deadline).as_json()).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)) + body


class Worker(UvicornWorker):
    """uvicorn's gunicorn worker with the deadline, and no proxy headers of its own:
    the application decides whom to believe (trusted_proxies)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = float(self.app.settings.request_timeout_seconds)
        self.config.http = type("DeadlineProtocol", (DeadlineProtocol,),
                                {"deadline": self.deadline})
        self.config.proxy_headers = False

    async def _serve(self):
        if self.cfg.is_ssl:
            loop = asyncio.get_running_loop()
            try:  # uvicorn passes no handshake timeout: add ours to its create_server
                loop.create_server = functools.partial(loop.create_server,
                                                       ssl_handshake_timeout=self.deadline)
            except AttributeError:  # a loop that takes no attributes (uvloop): its 60 s
                pass
        await super()._serve()
