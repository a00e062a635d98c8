"""The login-time pipeline (DESIGN.md steps 3–7), as one readable story.

    prepare():  read ~/.ecryptfs → unwrap → verify → archive   (in memory)
    escrow():   seal → spool

The PAM hook runs both; `zescrowctl inspect` runs only `prepare` and shows
what would be sent. The MOUNT passphrase exists only inside `prepare`
and is wiped when it returns; what leaves is the archive that contains it,
which is sealed before anything is written.
"""

from collections import namedtuple

from . import archive as archive_mod
from . import defaults, ecryptfs_dir, unwrap, verify, wrapped_passphrase

Prepared = namedtuple("Prepared", "setup verified archive")


def prepare(ecryptfs_path, login_password, ecryptfsrc=None):
    return prepare_setup(ecryptfs_dir.read(ecryptfs_path, ecryptfsrc), login_password)


def prepare_setup(setup, login_password):
    """The same, on a setup already read (the hook decided on exactly these files)."""
    verify.expected_signatures(setup)  # fail on a bad Private.sig before any derivation
    wrapped_path = setup.file_path(defaults.WRAPPED_PASSPHRASE)
    wrapped = wrapped_passphrase.parse(setup.get(defaults.WRAPPED_PASSPHRASE).data,
                                       wrapped_path, setup.v1_salt)
    with unwrap.unwrap(wrapped, login_password, wrapped_path) as mount_passphrase:
        verified = verify.verify(setup, mount_passphrase)
        archive = archive_mod.build(setup, mount_passphrase)
    return Prepared(setup, verified, archive)


def escrow(prepared, key_path, fingerprint, spool_dir, user, host=None, server_url="",
           gnupg_parent=None, custodians=None, voucher=None):
    """Seal and spool. `custodians`: None (sealed to the server key), or the
    pinned custodians mode: {"keys_file", "fingerprints", "threshold"}.
    `voucher`: the enrolled host's {"statement", "signature"} for this user (#13)."""
    # Imported here: inspect never seals, and these pull in subprocess,
    # socket and tempfile, which it would pay for at every start.
    from . import seal, spool

    import socket

    where = {"home_parent": gnupg_parent} if gnupg_parent else {}
    host = host or socket.gethostname()
    if custodians:  # each share names whose key it is: the custodians see it (#12)
        sealed = seal.seal_to_custodians(prepared.archive.data, custodians["keys_file"],
                                         custodians["fingerprints"], custodians["threshold"],
                                         {"user": user, "host": host}, **where)
    else:
        sealed = seal.seal(prepared.archive.data, key_path, fingerprint, **where)
    from .decide import escrow_digest, target

    meta = spool.metadata(user, sealed, prepared.verified,
                          escrow_digest(prepared.setup, target(fingerprint, custodians)),
                          host=host)
    # The archive can go only to the server whose key sealed it.
    meta.update(server_url=server_url, fingerprint=seal.normalize_fingerprint(fingerprint),
                recovery="custodians" if custodians else "server")
    if custodians:
        meta.update(custodians=list(custodians["fingerprints"]),
                    threshold=custodians["threshold"])
    if voucher:
        meta.update(voucher=voucher)
    return spool.put(spool_dir, sealed, meta)
