"""Seal: encrypt the archive to the pinned server key (S2, S3).

gpg runs in a throwaway GNUPGHOME on a memory file system (/dev/shm), so
that nothing gpg writes — the imported key, its trust database, a random
seed — ever reaches a disk, and the home is removed afterwards, even on
error. `--no-autostart` keeps gpg-agent and dirmngr from starting (a
public-key encryption needs neither); `gpgconf --kill all` is still run on
the way out so that nothing we started can outlive us.

The key is trusted because we pinned its fingerprint ourselves at
enrolment, which is why `always_trust` is right here and nowhere else.
"""

import contextlib
import io
import logging
import re
import shutil
import subprocess
import tempfile

from . import defaults
from .errors import (CustodianKeyMismatch, GpgUnavailable, MemoryFsUnavailable, SealFailed,
                     ServerKeyMismatch, ServerKeyMissing)

log = logging.getLogger("zescrow.seal")
# python-gnupg logs data it handles at DEBUG; never let that through.
logging.getLogger("gnupg").setLevel(logging.WARNING)

GPG_OPTIONS = ["--no-autostart", "--no-auto-key-retrieve", "--no-auto-key-locate",
               "--no-random-seed-file", "--no-greeting"]
_FPR = re.compile(r"^[0-9A-F]{40}$|^[0-9A-F]{64}$")


def normalize_fingerprint(text):
    fpr = re.sub(r"\s+", "", text or "").upper()
    if not _FPR.match(fpr):
        raise ServerKeyMismatch(path="the configuration", actual="(none)",
                                expected=text or "(empty)")
    return fpr


def read_key(path):
    try:
        with open(path, "rb") as f:
            data = f.read(defaults.MAX_ECRYPTFS_FILE_BYTES + 1)
    except OSError as err:
        raise ServerKeyMissing(path=path, reason=err.strerror) from err
    if not data.strip():
        raise ServerKeyMissing(path=path, reason="the file is empty")
    if len(data) > defaults.MAX_ECRYPTFS_FILE_BYTES:
        raise ServerKeyMissing(path=path, reason="it is too large to be a public key")
    return data


def seal(archive, key_path, fingerprint, home_parent=defaults.GNUPG_HOME_PARENT):
    """Return the archive bytes encrypted (binary OpenPGP) to the pinned key."""
    fingerprint = normalize_fingerprint(fingerprint)
    key_data = read_key(key_path)
    with gnupg_home(home_parent) as home:
        gpg = open_gpg(home)
        import_pinned(gpg, key_data, key_path, fingerprint)
        return encrypt(gpg, archive, fingerprint)


def seal_to_custodians(archive, keys_path, fingerprints, threshold, owner,
                       home_parent=defaults.GNUPG_HOME_PARENT):
    """Custodians mode: the zescrow-custodians/1 container for the archive,
    its shares sealed to exactly the pinned `fingerprints` (never to another
    key the keys file may hold: the file is checked against the pin)."""
    from zescrow_core import custodians

    pinned = [normalize_fingerprint(fpr) for fpr in fingerprints]
    key_data = read_key(keys_path)
    with gnupg_home(home_parent) as home:
        gpg = open_gpg(home)
        for fingerprint in pinned:
            try:
                import_pinned(gpg, key_data, keys_path, fingerprint)
            except ServerKeyMismatch as err:
                raise CustodianKeyMismatch(**err.details) from None
        return custodians.seal(archive, pinned, threshold,
                               lambda fpr, data: encrypt(gpg, data, fpr), owner)


@contextlib.contextmanager
def gnupg_home(parent=defaults.GNUPG_HOME_PARENT):
    """A private (0700) GNUPGHOME under `parent`, removed with its agents."""
    try:
        home = tempfile.mkdtemp(prefix="zs-", dir=parent)
    except OSError as err:
        raise MemoryFsUnavailable(path=parent, reason=err.strerror) from err
    try:
        yield home
    finally:
        _kill_gpg_daemons(home)
        shutil.rmtree(home, ignore_errors=True)


def open_gpg(home):
    import gnupg  # lazily: the PAM hook's fast path never seals

    try:
        return gnupg.GPG(gpgbinary=defaults.GPG_BINARY, gnupghome=home, options=GPG_OPTIONS)
    except (OSError, ValueError) as err:
        raise GpgUnavailable(binary=defaults.GPG_BINARY, reason=str(err)) from err


def import_pinned(gpg, key_data, key_path, fingerprint):
    result = gpg.import_keys(key_data)
    found = sorted({fpr.upper() for fpr in (result.fingerprints or [])})
    if not found:
        raise ServerKeyMissing(path=key_path, reason="it holds no OpenPGP public key "
                               "that gpg can import (%s)" % _gpg_reason(result))
    if fingerprint not in found:
        raise ServerKeyMismatch(path=key_path, actual=", ".join(found), expected=fingerprint)


def encrypt(gpg, archive, fingerprint):
    result = gpg.encrypt_file(io.BytesIO(archive), [fingerprint], armor=False,
                              always_trust=True, extra_args=["--compress-algo", "none"])
    if not result.ok or not result.data:
        raise SealFailed(fingerprint=fingerprint, reason=_gpg_reason(result))
    return bytes(result.data)


def _gpg_reason(result):
    lines = [line for line in (result.stderr or "").splitlines()
             if line.strip() and not line.startswith("[GNUPG:]")]
    return "; ".join(lines[-2:]) or getattr(result, "status", None) or "no reason given"


def _kill_gpg_daemons(home):
    for args in (["--kill", "all"], ["--remove-socketdir"]):
        try:
            subprocess.run(["gpgconf", "--homedir", home] + args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=defaults.GPG_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("could not stop gpg daemons of %s: %s", home, err)
