"""The server's OpenPGP key: made at init, published, and used to decrypt (python-gnupg).

The key lives in the data folder's gpg home (keep its path short: gpg's
agent socket paths break past about 100 characters). The primary key is
ed25519 for certification; a cv25519 subkey encrypts. The fingerprint
clients pin is the primary key's. It has no passphrase: the data folder's
permissions (0700, the server's user) protect it, as they protect the
database, and the server must decrypt without anyone at a keyboard.
"""

import logging
import os
import subprocess

from pam_zescrow import defaults

from . import decrypt as bounded

logging.getLogger("gnupg").setLevel(logging.WARNING)  # it logs what it decrypts at DEBUG
# An escrow archive is a few KiB; the client refuses to make one over this.
PLAINTEXT_LIMIT = defaults.MAX_ARCHIVE_BYTES


class KeyError_(Exception):
    pass


class PlaintextTooLarge(KeyError_):
    """The message decrypts to more than an escrow archive can be (a decompression bomb)."""


def _gpg(home):
    import gnupg

    return gnupg.GPG(gnupghome=home, options=["--no-greeting"])


def stop_agent(home):
    """End the gpg-agent that gpg started for `home`: gpg leaves it running after it exits."""
    if not os.path.isdir(home):
        return
    try:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True,
                       timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        logging.getLogger("zescrow.server.keys").warning("could not stop gpg-agent: %s", err)


def generate(home, name):
    """Make the server key in `home` (0700); return its fingerprint."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    gpg = _gpg(home)
    spec = gpg.gen_key_input(key_type="EDDSA", key_curve="ed25519", key_usage="cert",
                             subkey_type="ECDH", subkey_curve="cv25519", subkey_usage="encrypt",
                             name_real=name, name_email="zescrow-server@localhost",
                             expire_date=0, no_protection=True)
    result = gpg.gen_key(spec)
    if not result.fingerprint:
        raise KeyError_("gpg could not make the server key: %s" % (result.stderr or "")
                        .strip().splitlines()[-1:])
    return result.fingerprint.upper()


class ServerKey:
    def __init__(self, home):
        self.home = home
        if not os.path.isdir(home):
            raise KeyError_("there is no server key in %s: run zescrow-server init" % home)
        self.gpg = _gpg(home)
        keys = self.gpg.list_keys(secret=True)
        if not keys:
            raise KeyError_("there is no server key in %s: run zescrow-server init" % home)
        key = keys[0]
        self.fingerprint = key["fingerprint"].upper()
        self.encryption_key_ids = [keyid.upper() for keyid, info in
                                   (key.get("subkey_info") or {}).items()
                                   if "e" in (info.get("cap") or "")]
        self.public_armored = self.gpg.export_keys(self.fingerprint).encode()

    def decrypt(self, sealed, limit=PLAINTEXT_LIMIT, timeout=10.0):
        """The plaintext of a message encrypted to this key, at most `limit` bytes
        (else PlaintextTooLarge), or KeyError_ with gpg's reason (keys/decrypt.py)."""
        try:
            return bounded.decrypt(self.home, sealed, limit, timeout)
        except bounded.PlaintextTooLarge as err:
            raise PlaintextTooLarge(str(err)) from None
        except bounded.DecryptFailed as err:
            raise KeyError_(str(err)) from None
