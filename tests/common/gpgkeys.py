"""Throwaway OpenPGP keys made with the real gpg, standing in for a server's key."""

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass


@dataclass
class ServerKey:
    home: str
    fingerprint: str
    public_path: str

    def gpg(self, *args, input=None):
        return subprocess.run(["gpg", "--homedir", self.home, "--batch", "--yes",
                               "--pinentry-mode", "loopback", "--passphrase", ""] + list(args),
                              input=input, capture_output=True, check=False)

    def decrypt(self, sealed):
        proc = self.gpg("--decrypt", input=sealed)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    def close(self):
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"], check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def make_server_key(folder, name="zescrow test server"):
    """An ed25519 certification key with a cv25519 encryption subkey (fast to make)."""
    return _make_key(folder, name, "%s <server@zescrow.test>" % name, "cert")


def make_custodian_key(folder, name):
    """A custodian's key: ed25519 that signs (their decisions) and a cv25519 subkey
    that receives shares; the user ID carries an address (recovery mail goes there)."""
    email = name.replace(" ", ".") + "@custodians.test"
    key = _make_key(folder, name, "%s <%s>" % (name, email), "sign,cert")
    key.email = email
    return key


def _make_key(folder, name, user_id, primary_usage):
    home = tempfile.mkdtemp(prefix="zk-", dir="/dev/shm")
    key = ServerKey(home, None, os.path.join(folder, name.replace(" ", "-") + ".asc"))
    proc = key.gpg("--quick-gen-key", user_id, "ed25519", primary_usage, "never")
    assert proc.returncode == 0, proc.stderr.decode()
    listing = key.gpg("--with-colons", "--list-keys").stdout.decode()
    key.fingerprint = [l.split(":")[9] for l in listing.splitlines() if l.startswith("fpr:")][0]
    proc = key.gpg("--quick-add-key", key.fingerprint, "cv25519", "encr", "never")
    assert proc.returncode == 0, proc.stderr.decode()
    with open(key.public_path, "wb") as f:
        f.write(key.gpg("--armor", "--export", key.fingerprint).stdout)
    return key
