"""The server's OpenPGP key: made at init, published, and used to decrypt.

The key lives in the data folder's gpg home (keep its path short: gpg's
agent socket paths break past about 100 characters). The primary key is
ed25519 for certification; a cv25519 subkey encrypts. The fingerprint
clients pin is the primary key's.
"""

import os
import subprocess

GPG_TIMEOUT = 30


class KeyError_(Exception):
    pass


def _gpg(home, *args, input=None, check=True):
    proc = subprocess.run(["gpg", "--homedir", home, "--batch", "--yes", "--quiet",
                           "--no-greeting", "--pinentry-mode", "loopback", "--passphrase", ""]
                          + list(args), input=input, capture_output=True, timeout=GPG_TIMEOUT)
    if check and proc.returncode != 0:
        raise KeyError_("gpg %s failed: %s" % (args[0], proc.stderr.decode("utf-8", "replace")
                                               .strip().splitlines()[-1:] or "no reason"))
    return proc


def generate(home, name):
    """Make the server key in `home` (0700); return its fingerprint."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    _gpg(home, "--quick-gen-key", "%s <zescrow-server@localhost>" % name, "ed25519", "cert",
         "never")
    fingerprint = ServerKey(home).fingerprint
    _gpg(home, "--quick-add-key", fingerprint, "cv25519", "encr", "never")
    return fingerprint


class ServerKey:
    def __init__(self, home):
        self.home = home
        listing = _gpg(home, "--with-colons", "--list-secret-keys").stdout.decode()
        self.fingerprint, self.encryption_key_ids = None, []
        current = None
        for line in listing.splitlines():
            fields = line.split(":")
            if fields[0] in ("sec", "ssb"):
                current = fields
                if fields[0] == "ssb" and "e" in fields[11]:
                    self.encryption_key_ids.append(fields[4].upper())
            elif fields[0] == "fpr" and current is not None and current[0] == "sec" \
                    and self.fingerprint is None:
                self.fingerprint = fields[9].upper()
        if not self.fingerprint:
            raise KeyError_("there is no server key in %s: run zescrow-server init" % home)
        self.public_armored = _gpg(home, "--armor", "--export", self.fingerprint).stdout

    def decrypt(self, sealed):
        """The plaintext of a message encrypted to this key, or KeyError_ with gpg's reason."""
        return _gpg(self.home, "--decrypt", input=sealed).stdout
