"""state.json: what was escrowed when, what waits, what went wrong.

One small JSON object per user in /var/lib/zescrow/USER/, written only
through the atomic helper. It is validated on read; a damaged file is a
named error (StateCorrupt), never a traceback.

    {"version": 1,
     "escrowed":     {"setup_digest", "key_signature", "sha256", "at", ...}  (server acknowledged)
     "last_spooled": {"archive", "setup_digest", "key_signature", "sha256", "created"}
     "last_error":   {"code", "message", "hint", "at"} | null
     "exposed":      {"escrow", "at", "reason", "notified"}  (the helpdesk recovered it;
                     written by root's coverage report, as the user: zescrowd/report.py)}
"""

import json
import os

from . import defaults
from .errors import StateCorrupt
from .fsutil import atomic_write

VERSION = 1
_RECORDS = ("escrowed", "last_spooled", "last_error", "exposed")


def path_in(user_dir):
    return os.path.join(user_dir, defaults.STATE_FILENAME)


def load(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return {"version": VERSION}
    except OSError as err:
        raise StateCorrupt(path=path, reason=err.strerror) from err
    with os.fdopen(fd, "rb") as f:
        raw = f.read(defaults.MAX_ECRYPTFS_FILE_BYTES + 1)
    if len(raw) > defaults.MAX_ECRYPTFS_FILE_BYTES:
        raise StateCorrupt(path=path, reason="it is larger than %d bytes"
                           % defaults.MAX_ECRYPTFS_FILE_BYTES)
    try:
        state = json.loads(raw)
    except ValueError as err:
        raise StateCorrupt(path=path, reason="it is not JSON (%s)" % err.msg) from None
    except RecursionError:  # "[[[[…": nested deeper than the parser goes
        raise StateCorrupt(path=path, reason="it is nested too deeply to be ours") from None
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise StateCorrupt(path=path, reason="it is not a version %d state object" % VERSION)
    for key in _RECORDS:
        if state.get(key) is not None and not isinstance(state[key], dict):
            raise StateCorrupt(path=path, reason="%r should be an object" % key)
    return state


def update(path, change):
    """Read, change and write state.json under a lock (the hook and zescrowd both write it).

    `change(state)` edits the dict in place. The lock is a separate file, so
    that it never delays the hook's own escrow lock.
    """
    import fcntl

    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 defaults.PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = load(path)
        except StateCorrupt:
            current = {"version": VERSION}  # replaced by a good one; the log says why
        change(current)
        save(path, current)
        return current
    finally:
        os.close(fd)


def save(path, state):
    state = dict(state, version=VERSION)
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True).encode() + b"\n",
                 defaults.PRIVATE_FILE_MODE)
