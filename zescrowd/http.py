"""HTTPS for zescrowd and zescrowctl: the standard library, TLS always verified (S3).

Not `requests`: importing it costs 17 MiB of resident memory (urllib3,
chardet, idna on Debian 12), which alone would break zescrowd's 40 MiB
budget (bench/daemon, docs/BENCHMARKS.md); http.client and ssl do the
same job here. Verification is never turned off: the system's CA store,
or the CA file the user configured for their escrow server. An HTTPS
proxy from https_proxy/HTTPS_PROXY is used through CONNECT, unless the
host is in no_proxy.

Every answer is bounded twice: in size (`max_body`; more is TooLarge, never
silently cut) and in time. Socket timeouts bound each read, not their sum:
a server that sends a byte every few seconds would hold a request forever.
So each request also has an overall deadline, after which a watchdog shuts
the connection's socket down, whatever step it is in (TLS handshake,
headers, body); that is TooSlow.
"""

import http.client
import json
import os
import socket
import ssl
import threading
from urllib.parse import urlsplit

from .files import NotAFile, read_regular

MAX_BODY = 1024 * 1024  # /gpg.pub; callers that expect JSON ask for less
MAX_CA_BYTES = 1024 * 1024
DEADLINE = 60.0  # seconds for a whole request: connect, send, headers and body
# What OpenSSL says when the other end answers a ClientHello with plain HTTP
# (or anything that is not TLS): the port is not a TLS port.
NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST",
                   "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG"}


class Response:
    def __init__(self, status, headers, body):
        self.status_code, self.headers, self.content = status, headers, body

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class NetworkError(Exception):
    """Could not talk to the server: `tls` tells a TLS problem from the rest, and
    `not_tls` a port that does not speak TLS at all."""

    def __init__(self, reason, tls=False, not_tls=False):
        super().__init__(reason)
        self.reason, self.tls, self.not_tls = reason, tls or not_tls, not_tls


class TooSlow(NetworkError):
    """The whole request took longer than its deadline."""

    def __init__(self, seconds):
        super().__init__("no complete answer within %g s" % seconds)
        self.seconds = seconds


class TooLarge(NetworkError):
    """The answer is longer than the caller takes."""

    def __init__(self, limit):
        super().__init__("the answer is over %d bytes" % limit)
        self.limit = limit


def deadline_seconds():
    # The override exists for the tests only (a real deadline would make them wait a minute).
    return float(os.environ.get("ZESCROW_TESTONLY_HTTP_DEADLINE") or DEADLINE)


def request(method, url, body=None, headers=None, verify=True, timeout=(10, 30),
            max_body=MAX_BODY):
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise NetworkError("%s is not an https:// URL; zescrow talks to servers over TLS only"
                           % url)
    context = _context(verify)
    watchdog = Watchdog(deadline_seconds())
    conn = _connection(parts, context, timeout[0], watchdog)
    try:
        conn.connect()
        conn.sock.settimeout(timeout[1])
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = _read(conn.getresponse(), max_body)
        if watchdog.expired:  # the shutdown can look like a short answer, not an error
            raise TooSlow(watchdog.seconds)
        return response
    except (OSError, http.client.HTTPException) as err:
        if watchdog.expired:
            raise TooSlow(watchdog.seconds) from None
        raise _network_error(err) from None
    finally:
        watchdog.cancel()
        conn.close()


def _read(r, max_body):
    length = r.getheader("Content-Length", "")
    if length.isdigit() and int(length) > max_body:
        raise TooLarge(max_body)
    data = r.read(max_body + 1)
    if len(data) > max_body:
        raise TooLarge(max_body)
    return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)


def _network_error(err):
    if isinstance(err, NetworkError):
        return err
    if isinstance(err, ssl.SSLCertVerificationError):
        return NetworkError(err.verify_message or str(err), tls=True)
    if isinstance(err, ssl.SSLError):
        return NetworkError("TLS failed: %s" % (err.reason or err), tls=True,
                            not_tls=err.reason in NOT_TLS_REASONS)
    if isinstance(err, ConnectionRefusedError):
        return NetworkError("connection refused")
    if isinstance(err, socket.gaierror):
        return NetworkError("the name does not resolve (%s)" % err.strerror)
    if isinstance(err, (TimeoutError, socket.timeout)):
        return NetworkError("timed out")
    return NetworkError(getattr(err, "strerror", None) or type(err).__name__)


def _context(verify):
    """A verifying TLS context: the system's CA store, or the CA file `verify` names.

    The CA file is read here, not by OpenSSL: a fifo or /dev/zero named as
    ca_file must be a clear refusal, not a wait or a read without end.
    """
    if not isinstance(verify, str):
        return ssl.create_default_context()
    try:
        data = read_regular(verify, MAX_CA_BYTES)
        pem = b"-----BEGIN" in data
        return ssl.create_default_context(cadata=data.decode("ascii", "ignore") if pem else data)
    except NotAFile as err:
        reason = err.reason
    except OSError as err:
        reason = err.strerror or str(err)
    except (ssl.SSLError, ValueError) as err:
        reason = "it holds no certificate TLS can use: %s" % (getattr(err, "reason", None) or err)
    raise NetworkError("cannot use the CA file %s (%s)" % (verify, reason), tls=True)


class Watchdog:
    """Shuts a connection's socket down once `seconds` have passed since it was made.

    shutdown() acts on the socket itself, so a duplicate descriptor taken when
    the socket is created reaches it in every later step, also after the TLS
    layer wrapped it; a blocked read then returns at once. The duplicate is
    closed only under the lock, so the timer can never shut down a descriptor
    number that was reused in the meantime.
    """

    def __init__(self, seconds):
        self.seconds, self.expired = seconds, False
        self._lock = threading.Lock()
        self._sock = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock):
        with self._lock:
            self._sock = sock.dup()
            if self.expired:
                self._shutdown()
        return sock

    def _expire(self):
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self):
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self):
        self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _connection(parts, context, connect_timeout, watchdog):
    host, port = parts.hostname, parts.port or 443
    proxy = os.environ.get("https_proxy") or os.environ.get("HTTPS_PROXY")
    if proxy and not _no_proxy(host):
        p = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        conn = http.client.HTTPSConnection(p.hostname, p.port or 3128, context=context,
                                           timeout=connect_timeout)
        conn.set_tunnel(host, port)
    else:
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=connect_timeout)
    # The socket is watched from the moment it exists: the proxy's CONNECT and
    # the TLS handshake are reads a slow server could stretch too. http.client
    # makes its sockets through this attribute, set per connection for this use.
    create = conn._create_connection
    conn._create_connection = lambda *args, **kwargs: watchdog.watch(create(*args, **kwargs))
    return conn


def _no_proxy(host):
    rules = (os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or "").split(",")
    return any(r.strip() and (host == r.strip().lstrip(".") or host.endswith(
        "." + r.strip().lstrip("."))) for r in rules) or host in ("127.0.0.1", "localhost")
