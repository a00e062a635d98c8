"""The enrolment: which server, which pinned key, what policy.

`/etc/zescrow/zescrow.conf` is a small INI file:

    [server]
    url = https://escrow.example.org
    fingerprint = 0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567
    key_file = /etc/zescrow/server-key.asc   ; the default
    ca_file = /etc/zescrow/ca.pem            ; optional, for the daemon

    recovery = custodians                    ; optional: "server" (the default) or
    threshold = 2                            ; "custodians": k of the pinned custodians
    custodians = FPR1, FPR2, FPR3            ; (fingerprints, in the pinned order)
    custodians_file = /etc/zescrow/custodians.asc   ; their public keys; the default

    [host]                                   ; enrolled with a token (issue #13)
    id = 0123456789abcdef                    ; what the server calls this machine
    key_file = /etc/zescrow/host.key         ; root's only; the default

    [policy]
    min_uid = 1000                           ; users below are system users

Parsed by hand, not with configparser: the PAM hook reads this at every
login and configparser (with re) costs ~7 ms of interpreter start. No
environment variable is read here; the CLI and daemon apply their own
overrides (STYLE.md §3, §8).
"""

import os
import stat

from . import defaults
from .errors import ConfigInvalid, UnsafeStateFile
from .fsutil import open_regular

DEFAULT_MIN_UID = 1000


class Enrolment:
    def __init__(self, path, values):
        server, policy = values.get("server", {}), values.get("policy", {})
        host = values.get("host", {})
        self.host_id = host.get("id", "")
        self.host_key = host.get("key_file") or defaults.HOST_KEY
        self.path = path
        self.url = server.get("url", "")
        self.fingerprint = server.get("fingerprint", "")
        self.key_file = server.get("key_file") or defaults.SERVER_KEY
        self.ca_file = server.get("ca_file") or None
        self.min_uid = _int(policy.get("min_uid", DEFAULT_MIN_UID), path, "min_uid")
        self.recovery = server.get("recovery", "server")
        if self.recovery not in ("server", "custodians"):
            raise ConfigInvalid(path=path, reason="recovery must be server or custodians, not %r"
                                % self.recovery)
        self.custodians = [f.strip() for f in server.get("custodians", "").split(",")
                           if f.strip()]
        self.custodians_file = server.get("custodians_file") or defaults.CUSTODIANS_KEYS
        self.threshold = _int(server.get("threshold", 0), path, "threshold")
        n, k = len(self.custodians), self.threshold
        if self.recovery == "custodians" and not _threshold_fits(k, n):
            raise ConfigInvalid(path=path, reason="custodians mode needs 2 <= threshold <= the "
                                "number of custodians (%d), not %d" % (n, k))

    @property
    def enrolled(self):
        return bool(self.url and self.fingerprint)

    def custodians_mode(self):
        """The pinned custodians mode for sealing, or None (sealed to the server key):
        only what setup pinned here counts, never what a server says later."""
        if self.recovery != "custodians":
            return None
        return {"keys_file": self.custodians_file, "fingerprints": self.custodians,
                "threshold": self.threshold}


def load(path, require_root_owned=False):
    """The Enrolment in `path`; an absent file is a machine not enrolled.

    With require_root_owned (the PAM hook, running as root), a file that
    anyone but root could have written is refused: it decides which key a
    user's secret is encrypted to.
    """
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return Enrolment(path, {})
    except UnsafeStateFile as err:
        raise ConfigInvalid(path=path, reason=err.details["reason"]) from err
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if require_root_owned and (st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            raise ConfigInvalid(path=path, reason="it must belong to root and be writable by "
                                "root only (it is uid %d, mode %o)" % (st.st_uid,
                                                                       stat.S_IMODE(st.st_mode)))
        text = f.read(defaults.MAX_ECRYPTFS_FILE_BYTES).decode("utf-8", "replace")
    return Enrolment(path, parse(text, path))


def parse(text, path):
    sections, current = {}, None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith(("#", ";")):
            continue
        for mark in (" ;", " #", "\t;", "\t#"):  # inline comments follow a blank
            line = line.split(mark, 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip().lower(), {})
            continue
        key, eq, value = line.partition("=")
        if not eq or current is None:
            raise ConfigInvalid(path=path, reason="line %d is not `key = value` inside a "
                                "[section]: %r" % (number, raw.strip()[:60]))
        current[key.strip().lower()] = value.strip()
    return sections


def _int(value, path, name):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigInvalid(path=path, reason="%s must be a whole number, not %r"
                            % (name, value)) from None


def _threshold_fits(k, n):
    from zescrow_core.custodians import threshold_fits  # only for custodians mode

    return threshold_fits(k, n)
