"""Decide: escrow this setup, or was it already done?

Without any key derivation: the setup's digest (every file of ~/.ecryptfs
but wrapped-passphrase, so a login-password change does not count) is
compared with the last escrow the server acknowledged and with what
already waits in the spool. A new mount passphrase, Private.sig or mount
option changes the digest and is escrowed again.
"""

from . import spool


def decide(setup, state, spool_dir):
    """Return (needed, reason): a plain sentence for the log either way."""
    digest = setup.setup_digest()
    escrowed = state.get("escrowed") or {}
    if escrowed.get("setup_digest") == digest:
        return False, "already escrowed (%s, key signature %s)" % (
            escrowed.get("at", "earlier"), escrowed.get("key_signature", "?"))
    for entry in spool.pending(spool_dir):
        if entry.meta and entry.meta.get("setup_digest") == digest:
            return False, "already waiting in the spool (%s)" % entry.name
    if escrowed:
        return True, "the eCryptfs setup changed since the last escrow"
    return True, "a first escrow for this setup"
