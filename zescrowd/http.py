"""HTTPS for zescrowd and zescrowctl: the standard library, TLS always verified (S3).

Not `requests`: importing it costs 17 MiB of resident memory (urllib3,
chardet, idna on Debian 12), which alone would break zescrowd's 40 MiB
budget (bench/daemon, docs/BENCHMARKS.md); http.client and ssl do the
same job here. Verification is never turned off: the system's CA store,
or the CA file the user configured for their escrow server. An HTTPS
proxy from https_proxy/HTTPS_PROXY is used through CONNECT, unless the
host is in no_proxy.
"""

import http.client
import json
import os
import socket
import ssl
from urllib.parse import urlsplit

MAX_BODY = 1024 * 1024
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


def request(method, url, body=None, headers=None, verify=True, timeout=(10, 30)):
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise NetworkError("%s is not an https:// URL; zescrow talks to servers over TLS only"
                           % url)
    cafile = verify if isinstance(verify, str) else None
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as err:
        raise NetworkError("cannot use the CA file %s (%s)" % (
            cafile, getattr(err, "strerror", None) or err), tls=True) from None
    conn = _connection(parts, context, timeout[0])
    try:
        conn.connect()
        conn.sock.settimeout(timeout[1])
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        data = r.read(MAX_BODY)
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    except ssl.SSLCertVerificationError as err:
        raise NetworkError(err.verify_message or str(err), tls=True) from None
    except ssl.SSLError as err:
        raise NetworkError("TLS failed: %s" % (err.reason or err), tls=True,
                           not_tls=err.reason in NOT_TLS_REASONS) from None
    except ConnectionRefusedError:
        raise NetworkError("connection refused") from None
    except socket.gaierror as err:
        raise NetworkError("the name does not resolve (%s)" % err.strerror) from None
    except (TimeoutError, socket.timeout):
        raise NetworkError("timed out") from None
    except (OSError, http.client.HTTPException) as err:
        raise NetworkError(getattr(err, "strerror", None) or type(err).__name__) from None
    finally:
        conn.close()


def _connection(parts, context, connect_timeout):
    host, port = parts.hostname, parts.port or 443
    proxy = os.environ.get("https_proxy") or os.environ.get("HTTPS_PROXY")
    if proxy and not _no_proxy(host):
        p = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        conn = http.client.HTTPSConnection(p.hostname, p.port or 3128, context=context,
                                           timeout=connect_timeout)
        conn.set_tunnel(host, port)
        return conn
    return http.client.HTTPSConnection(host, port, context=context, timeout=connect_timeout)


def _no_proxy(host):
    rules = (os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or "").split(",")
    return any(r.strip() and (host == r.strip().lstrip(".") or host.endswith(
        "." + r.strip().lstrip("."))) for r in rules) or host in ("127.0.0.1", "localhost")
