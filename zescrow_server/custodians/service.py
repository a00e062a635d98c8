"""The custodians a server publishes: read once at init, kept in the data folder.

`zescrow-server init --custodians FILE --threshold k` imports FILE (the
custodians' public keys, armored) into a throwaway gpg home, and keeps what
clients pin and what the upload check needs: each custodian's fingerprint,
name and encryption key IDs (custodians.json), and exactly those keys
(custodians.asc, served at /custodians.asc). The server never holds a
custodian's private key, so it can check a container's structure but not
open it (zescrow_core/custodians.py).
"""

import json
import os
import shutil
import subprocess
import tempfile

from pam_zescrow.fsutil import atomic_write
from zescrow_core.custodians import MAX_CUSTODIANS, threshold_fits

META, KEYS = "custodians.json", "custodians.asc"
MAX_KEYS_FILE_BYTES = 1024 * 1024


class CustodiansError(Exception):
    """What is wrong with the custodians given to init, in one sentence."""


class Custodians:
    def __init__(self, threshold, members, armored):
        self.threshold, self.members, self.armored = threshold, members, armored

    @property
    def fingerprints(self):
        return [m["fingerprint"] for m in self.members]

    def published(self):
        return [{"fingerprint": m["fingerprint"], "name": m["name"]} for m in self.members]

    def key_ids(self):
        return [(m["fingerprint"], set(m["key_ids"])) for m in self.members]


def load(data_dir):
    """The custodians kept by init, or None (the server's own recovery mode)."""
    try:
        with open(os.path.join(data_dir, META)) as f:
            meta = json.load(f)
        with open(os.path.join(data_dir, KEYS), "rb") as f:
            armored = f.read()
    except FileNotFoundError:
        return None
    return Custodians(meta["threshold"], meta["custodians"], armored)


def import_keys(data_dir, keys_file, threshold):
    """Read `keys_file`, check it and `threshold`, and keep them in `data_dir`."""
    try:
        with open(keys_file, "rb") as f:
            data = f.read(MAX_KEYS_FILE_BYTES + 1)
    except OSError as err:
        raise CustodiansError("cannot read %s: %s" % (keys_file, err.strerror)) from None
    if len(data) > MAX_KEYS_FILE_BYTES:
        raise CustodiansError("%s is over %d bytes" % (keys_file, MAX_KEYS_FILE_BYTES))
    members, armored = _list_keys(data, keys_file)
    n = len(members)
    if not 1 <= n <= MAX_CUSTODIANS:
        raise CustodiansError("%s holds %d public keys; custodians mode takes 1 to %d"
                              % (keys_file, n, MAX_CUSTODIANS))
    if not threshold_fits(threshold, n):
        raise CustodiansError("a threshold of %d does not fit %d custodians (2 <= k <= n)"
                              % (threshold, n))
    meta = {"threshold": threshold, "custodians": members}
    atomic_write(os.path.join(data_dir, KEYS), armored, 0o600)
    atomic_write(os.path.join(data_dir, META),
                 json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n", 0o600)
    return Custodians(threshold, members, armored)


def _list_keys(data, shown):
    """[{fingerprint, name, key_ids}] for every key in `data`, and their armored export."""
    home = tempfile.mkdtemp(prefix="zc-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    gpg = ["gpg", "--homedir", home, "--batch", "--no-autostart", "--no-greeting"]
    try:
        imported = subprocess.run(gpg + ["--import"], input=data, capture_output=True,
                                  timeout=60)
        listing = subprocess.run(gpg + ["--with-colons", "--list-keys"], capture_output=True,
                                 text=True, timeout=60).stdout
        members = _parse_listing(listing)
        if not members:
            raise CustodiansError("%s holds no OpenPGP public key gpg can import (%s)" % (
                shown, imported.stderr.decode("utf-8", "replace").strip()[-200:] or "empty"))
        armored = subprocess.run(gpg + ["--armor", "--export"] + [m["fingerprint"]
                                                                 for m in members],
                                 capture_output=True, timeout=60).stdout
        return members, armored
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _parse_listing(listing):
    """gpg --with-colons: one member per primary key, its encryption key IDs."""
    members, current = [], None
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            current = {"fingerprint": None, "name": "", "key_ids": [],
                       "_primary": (fields[4], "e" in fields[11])}
            members.append(current)
        elif current is None:
            continue
        elif fields[0] == "fpr" and current["fingerprint"] is None:
            current["fingerprint"] = fields[9].upper()
        elif fields[0] == "uid" and not current["name"]:
            current["name"] = fields[9][:200]
        elif fields[0] == "sub" and "e" in fields[11] and fields[1] not in ("r", "e"):
            current["key_ids"].append(fields[4].upper())
    for member in members:
        key_id, encrypts = member.pop("_primary")
        if encrypts:
            member["key_ids"].append(key_id.upper())
        if not member["key_ids"]:
            raise CustodiansError("the key of %s (%s) has no encryption key: a custodian needs "
                                  "one to receive shares" % (member["name"] or "?",
                                                             member["fingerprint"]))
    return members
