"""Decide: escrow this setup, or was it already done?

Without any key derivation: the setup's digest (every file of ~/.ecryptfs
but wrapped-passphrase, so a login-password change does not count) is
compared with the last escrow the server acknowledged and with what
already waits in the spool. A new mount passphrase, Private.sig or mount
option changes the digest and is escrowed again.

This runs on every login, so it reads no JSON (json pulls in re and enum,
6 ms): the acknowledged digest is in a one-line marker file zescrowd
writes, and a spooled archive carries the digest in its name.
"""

import os

from . import defaults
from .defaults import DIGEST_IN_NAME, ESCROWED_MARKER
from .fsutil import open_regular

try:  # CPython's built-in SHA-256 (ecryptfs_dir.py says why)
    from _sha256 import sha256
except ImportError:
    from hashlib import sha256


def target(fingerprint, custodians=None):
    """What an escrow is sealed to: the server's key, or k and the custodians.
    A new target (setup pinned another server or another set of custodians)
    means escrowing again, though the eCryptfs setup did not change."""
    if custodians:
        return "custodians:%d:%s" % (custodians["threshold"],
                                     ",".join(custodians["fingerprints"]))
    return "server:" + "".join((fingerprint or "").split()).upper()


def escrow_digest(setup, sealed_to):
    """The digest of this setup escrowed to this target: spool names and the
    acknowledged marker carry it."""
    h = sha256(setup.setup_digest().encode())
    h.update(b"\0" + sealed_to.encode())
    return h.hexdigest()


def decide(setup, user_dir, sealed_to=""):
    """Return (needed, reason): a plain sentence for the log either way."""
    digest = escrow_digest(setup, sealed_to)
    acknowledged = _read_marker(os.path.join(user_dir, ESCROWED_MARKER))
    if acknowledged == digest:
        return False, "already escrowed (setup %s…)" % digest[:12]
    spool_dir = os.path.join(user_dir, defaults.SPOOL_DIRNAME)
    try:
        names = os.listdir(spool_dir)
    except FileNotFoundError:
        names = []
    tag = "-%s-" % digest[:DIGEST_IN_NAME]
    for name in sorted(names):
        if tag in name and name.endswith(defaults.META_SUFFIX) and not name.startswith("."):
            return False, "already waiting in the spool (%s)" % name[:-len(defaults.META_SUFFIX)]
    if acknowledged:
        return True, "the eCryptfs setup, or what it is sealed to, changed since the last escrow"
    return True, "a first escrow for this setup"


def _read_marker(path):
    try:
        fd = open_regular(path)  # a fifo here must not hold the login
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(200).decode("ascii", "replace").strip() or None
