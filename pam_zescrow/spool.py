"""Spool: where sealed archives wait for zescrowd to upload them (S8).

Each escrow is a pair: NAME.gpg (the sealed archive) and NAME.json (its
metadata). Both are written atomically, the archive first: a NAME.json
therefore always names a whole NAME.gpg, and zescrowd only looks at
.json files. An archive leaves the spool only after the server
acknowledged it (zescrowd's job).
"""

import json
import os
from collections import namedtuple

from . import __version__, defaults
from .errors import SpoolUnwritable
from .fsutil import atomic_write

META_VERSION = 1
DIGEST_IN_NAME = defaults.DIGEST_IN_NAME
ESCROWED_MARKER = defaults.ESCROWED_MARKER


SpoolEntry = namedtuple("SpoolEntry", "name sealed_path meta_path meta")


def metadata(user, sealed, verified, setup_digest, host=None, now=None):
    """The JSON that travels beside a sealed archive: nothing secret in it."""
    import datetime
    import hashlib
    import socket

    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        "version": META_VERSION,
        "user": user,
        "host": host or socket.gethostname(),
        "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": hashlib.sha256(sealed).hexdigest(),
        "size": len(sealed),
        "key_signature": verified.fekek_sig,
        "fnek_signature": verified.fnek_sig,
        "setup_digest": setup_digest,
        "client_version": __version__,
    }


def put(spool_dir, sealed, meta):
    """Write one sealed archive and its metadata into the spool."""
    import secrets

    stamp = meta["created"].replace("-", "").replace(":", "")
    # The setup digest in the name lets the PAM hook's decide step see what
    # waits here from a directory listing, without parsing JSON at login.
    name = "%s-%s-%s" % (stamp, meta["setup_digest"][:DIGEST_IN_NAME], secrets.token_hex(4))
    sealed_path = os.path.join(spool_dir, name + defaults.SEALED_SUFFIX)
    meta_path = os.path.join(spool_dir, name + defaults.META_SUFFIX)
    meta = dict(meta, archive=os.path.basename(sealed_path))
    try:
        os.makedirs(spool_dir, mode=defaults.PRIVATE_DIR_MODE, exist_ok=True)
        atomic_write(sealed_path, sealed, defaults.PRIVATE_FILE_MODE)
        atomic_write(meta_path, json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n",
                     defaults.PRIVATE_FILE_MODE)
    except OSError as err:
        raise SpoolUnwritable(path=spool_dir, reason=err.strerror or str(err)) from err
    return SpoolEntry(name, sealed_path, meta_path, meta)


def pending(spool_dir):
    """The whole entries waiting in the spool, oldest first.

    An entry whose metadata does not parse has `meta` None: the caller
    decides (the hook ignores it, the daemon reports it).
    """
    try:
        names = sorted(os.listdir(spool_dir))
    except FileNotFoundError:
        return []
    entries = []
    for meta_name in names:
        if meta_name.startswith(".") or not meta_name.endswith(defaults.META_SUFFIX):
            continue
        name = meta_name[:-len(defaults.META_SUFFIX)]
        meta_path = os.path.join(spool_dir, meta_name)
        try:
            with open(meta_path, "rb") as f:
                meta = json.loads(f.read(defaults.MAX_ECRYPTFS_FILE_BYTES))
            if not isinstance(meta, dict):
                meta = None
        except (OSError, ValueError):
            meta = None
        sealed_path = os.path.join(spool_dir, name + defaults.SEALED_SUFFIX)
        entries.append(SpoolEntry(name, sealed_path, meta_path, meta))
    return entries
