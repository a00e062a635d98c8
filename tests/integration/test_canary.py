"""S1/S2 canary: a unique LOGIN password and MOUNT passphrase go through the
whole pipeline; neither is found in inspect's output, in any file the
pipeline wrote, or in the gpg home at the end of sealing. The sealed
archive does hold the passphrase (decrypted with the server's key), so the
search is looking at the right bytes and could fail.
"""

import io
import os
import secrets
import tarfile

from pam_zescrow import defaults, pipeline, seal
from tests.cli.conftest import zescrowctl
from tests.common.ecryptfs_tools import make_setup


def _forms(secret):
    return [secret, secret.hex().encode(), secret.hex().upper().encode(),
            secret.decode("latin-1").encode("utf-16-le")]


def _grep_tree(root, secrets_):
    hits = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            data = open(path, "rb").read()
            hits += [(path, s) for secret in secrets_ for s in _forms(secret) if s in data]
    return hits


def test_no_secret_in_output_files_or_gpg_home(tmp_path, real_tools, server_key):
    login = b"canary-login-" + secrets.token_hex(8).encode()
    mount = secrets.token_hex(16).encode()
    setup = make_setup(tmp_path / "user", mount, login)
    canaries = [login, mount]

    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup), password=login)
    assert r.rc == 0
    for secret in canaries:
        for form in _forms(secret):
            assert form.decode("latin-1") not in r.out + r.err

    spool_dir = tmp_path / "spool"
    shm_before = set(os.listdir(defaults.GNUPG_HOME_PARENT))
    prepared = pipeline.prepare(str(setup), login)
    entry = pipeline.escrow(prepared, server_key.public_path, server_key.fingerprint,
                            str(spool_dir), "canary")
    assert _grep_tree(spool_dir, canaries) == []
    assert _grep_tree(setup, canaries[1:]) == []  # nothing unwrapped was left beside the key
    assert set(os.listdir(defaults.GNUPG_HOME_PARENT)) <= shm_before  # gpg home removed

    # The gpg home as sealing leaves it, just before it is removed.
    with seal.gnupg_home(str(tmp_path)) as home:
        gpg = seal.open_gpg(home)
        seal.import_pinned(gpg, seal.read_key(server_key.public_path),
                           server_key.public_path, server_key.fingerprint)
        seal.encrypt(gpg, prepared.archive.data, server_key.fingerprint)
        assert os.listdir(home)  # gpg did write here
        assert _grep_tree(home, canaries) == []

    # The control: the sealed bytes do carry the passphrase, to the server only.
    sealed = open(entry.sealed_path, "rb").read()
    with tarfile.open(fileobj=io.BytesIO(server_key.decrypt(sealed)), mode="r:gz") as tar:
        content = tar.extractfile(".ecryptfs/unwrapped-passphrase").read()
    assert content == mount + b"\n"
