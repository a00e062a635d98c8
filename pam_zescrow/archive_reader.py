"""Reading an escrow archive back, safely (S7): for the server's verification
and for `zescrowctl recover`.

Nothing is extracted to disk. Only regular files and folders under
`.ecryptfs/` are accepted: absolute names, `..`, links, devices and fifos
are refused, and so is anything over the same bounds the client archives
with. The result is an EcryptfsDir, so the client's own verify step checks it.
"""

import gzip
import io
import posixpath
import tarfile

from . import defaults
from .ecryptfs_dir import EcryptfsDir, Entry
from .errors import EscrowArchiveInvalid

TOP = defaults.ECRYPTFS_DIRNAME


def read(data, shown="the archive"):
    """Return (EcryptfsDir, unwrapped passphrase bytes) from a decrypted archive."""
    try:
        raw = gzip.GzipFile(fileobj=io.BytesIO(data)).read(defaults.MAX_ARCHIVE_BYTES * 8 + 1)
    except (OSError, EOFError) as err:
        raise EscrowArchiveInvalid(path=shown, reason="it is not gzip data (%s)" % err) from None
    if len(raw) > defaults.MAX_ARCHIVE_BYTES * 8:
        raise EscrowArchiveInvalid(path=shown, reason="it unpacks to more than %d bytes"
                                   % (defaults.MAX_ARCHIVE_BYTES * 8))
    setup = EcryptfsDir(path=shown, real_path=shown, mode=0o700, mtime=0)
    passphrase = None
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for number, member in enumerate(tar):
                if number >= defaults.MAX_ECRYPTFS_ENTRIES + 1:
                    raise EscrowArchiveInvalid(path=shown, reason="too many members")
                entry = _entry(tar, member, shown)
                if entry is None:
                    continue
                if entry.name == defaults.UNWRAPPED_PASSPHRASE:
                    passphrase = entry.data.rstrip(b"\n")
                setup.entries.append(entry)
    except tarfile.TarError as err:
        raise EscrowArchiveInvalid(path=shown, reason="it is not a tar archive (%s)"
                                   % err) from None
    setup.entries.sort(key=lambda e: e.name)
    if not passphrase:
        raise EscrowArchiveInvalid(path=shown, reason="it has no %s/%s"
                                   % (TOP, defaults.UNWRAPPED_PASSPHRASE))
    return setup, passphrase


def _entry(tar, member, shown):
    name = member.name
    norm = posixpath.normpath(name)
    if name.startswith("/") or norm.startswith("..") or "/../" in "/%s/" % name:
        raise EscrowArchiveInvalid(path=shown, reason="member %r escapes the folder" % name)
    if norm == TOP and member.isdir():
        return None
    if not norm.startswith(TOP + "/"):
        raise EscrowArchiveInvalid(path=shown, reason="member %r is outside %s/" % (name, TOP))
    rel = norm[len(TOP) + 1:]
    if member.isdir():
        return Entry(rel, member.mode & 0o7777, int(member.mtime))
    if not member.isreg():
        raise EscrowArchiveInvalid(path=shown, reason="member %r is a link or a device"
                                   % name)
    if member.size > defaults.MAX_ECRYPTFS_FILE_BYTES:
        raise EscrowArchiveInvalid(path=shown, reason="member %r is too large" % name)
    data = tar.extractfile(member).read(defaults.MAX_ECRYPTFS_FILE_BYTES + 1)
    return Entry(rel, member.mode & 0o7777, int(member.mtime), data)
