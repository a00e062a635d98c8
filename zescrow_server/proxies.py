"""Whose request is it: the connection's peer, unless the peer is a proxy the admin listed.

The address goes to the audit log and keys the upload quota, so a client
must not choose it. uvicorn believed X-Forwarded-For from 127.0.0.1 by
default, a setting zescrow never made: any local program, or a proxy on
the same machine passing the header through, could write any text into
the audit log and upload under a new address each time. Now the worker
reads no proxy header (deadline.Worker), and this module believes
X-Forwarded-For only when the peer is in `trusted_proxies`: from the
right, each hop a listed proxy added, until the first address that is not
a listed proxy — the client. Each hop must be an IP address; a listed
proxy that sends anything else is misconfigured, and the request is
refused rather than filed under a wrong address.
"""

import functools
import ipaddress

from .errors import InvalidRequest


def networks(entries):
    """The trusted_proxies setting as networks; ValueError names an entry that is none."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


@functools.lru_cache(maxsize=8)
def _trusted(entries):
    return networks(entries)


def client_address(request):
    """The client's IP address as text ("" when the peer has none, e.g. a Unix socket)."""
    peer = _address(request.client.host) if request.client else None
    if peer is None:
        return ""
    trusted = _trusted(tuple(request.app.state.settings.trusted_proxies))
    if not _listed(peer, trusted):
        return str(peer)
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for")
            for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        client = _address(hop)
        if client is None:
            raise InvalidRequest("the proxy %s sent X-Forwarded-For %r, which is not a list of "
                                 "IP addresses; fix the proxy" % (peer, hop[:80]))
        if not _listed(client, trusted):
            break
    return str(client)


def _listed(address, trusted):
    return any(address.version == net.version and address in net for net in trusted)


def _address(text):
    """An IP address from "1.2.3.4", "1.2.3.4:port", "2001:db8::1" or "[2001:db8::1]:port"."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address
