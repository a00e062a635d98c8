"""The `bind` setting: an IP address of this machine and a port, checked before serving.

A host name is refused on purpose: the name clients use is the
certificate's and public_url's, and it often resolves to an address this
machine does not have (behind NAT, a proxy or a load balancer).
"""

import errno
import ipaddress
import socket

from .errors import BindFailed, BindInvalid, PortInUse

DEFAULT = "0.0.0.0:8443"


def parse(bind):
    """(address, port) from ADDRESS:PORT or [IPV6]:PORT; BindInvalid otherwise."""
    host, _, port = bind.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise BindInvalid(bind=bind) from None
    if not 0 < number < 65536:
        raise BindInvalid(bind=bind)
    return str(address), number


def check_free(bind, conf):
    """Bind once ourselves, as gunicorn will: its own failure is five retries and a log."""
    host, port = parse(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUse(bind=bind, port=port, conf=conf) from None
            raise BindFailed(bind=bind, reason=err.strerror, conf=conf) from None
