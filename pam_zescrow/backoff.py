"""Back off after a wrong password: no key derivation per guess.

The profile places the hook where only accepted passwords reach it. A hook
put by hand before `pam_unix` sees every guess instead, and each one would
start 65,536 rounds of SHA-512 in the background. After a `wrong-password`
outcome the detached escrow leaves a marker in the user's state folder; for
WRONG_PASSWORD_BACKOFF_SECONDS after it, the hook derives nothing for that
user. The marker is the user's own file: a user who forges it only delays
their own escrow.
"""

import os
import time

from . import defaults
from .fsutil import atomic_write, open_regular


def _marker(user_dir):
    return os.path.join(user_dir, defaults.WRONG_PASSWORD_MARKER)


def seconds_left(user_dir, now=None):
    """Seconds of back-off left for this user (0: none)."""
    try:
        fd = open_regular(_marker(user_dir))
    except FileNotFoundError:
        return 0
    try:
        since = (now or time.time()) - os.fstat(fd).st_mtime
    finally:
        os.close(fd)
    if since < 0:  # a marker from the future (a clock step): honour it once more
        since = 0
    return max(0, int(defaults.WRONG_PASSWORD_BACKOFF_SECONDS - since))


def record_wrong_password(user_dir):
    atomic_write(_marker(user_dir), b"", defaults.PRIVATE_FILE_MODE)


def clear(user_dir):
    try:
        os.unlink(_marker(user_dir))
    except FileNotFoundError:
        pass
