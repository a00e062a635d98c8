"""Reading an escrow archive back, safely (S7): for the server's verification
and for `zescrowctl recover`.

Nothing is extracted to disk. Only regular files and folders under one
top folder are accepted — `.ecryptfs/`, or `ecryptfs/` as the 2012 client
named its copy — : absolute names, `..`, anything beside the folder, links,
devices and fifos are refused, and so is anything over the same bounds the
client archives with, a damaged gzip stream and a time that is no time.
The result is an EcryptfsDir, so the client's own verify step checks it.
"""

import gzip
import io
import math
import posixpath
import tarfile
import zlib

from . import defaults
from .ecryptfs_dir import EcryptfsDir, Entry
from .errors import EscrowArchiveInvalid

TOP = defaults.ECRYPTFS_DIRNAME
TOPS = (TOP, "ecryptfs")  # the 2012 client tarred a copy named "ecryptfs"
FILES = (defaults.UNWRAPPED_PASSPHRASE, defaults.PRIVATE_SIG)  # what the check reads


def read(data, shown="the archive"):
    """Return (EcryptfsDir, unwrapped passphrase bytes) from a decrypted archive."""
    try:
        raw = gzip.GzipFile(fileobj=io.BytesIO(data)).read(defaults.MAX_ARCHIVE_BYTES * 8 + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise EscrowArchiveInvalid(path=shown, reason="it is not gzip data (%s)" % err) from None
    if len(raw) > defaults.MAX_ARCHIVE_BYTES * 8:
        raise EscrowArchiveInvalid(path=shown, reason="it unpacks to more than %d bytes"
                                   % (defaults.MAX_ARCHIVE_BYTES * 8))
    setup = EcryptfsDir(path=shown, real_path=shown, mode=0o700, mtime=0)
    passphrase, top = None, None
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for number, member in enumerate(tar):
                if number >= defaults.MAX_ECRYPTFS_ENTRIES + 1:
                    raise EscrowArchiveInvalid(path=shown, reason="too many members")
                # The first member names the top folder; every other one is inside it.
                first = posixpath.normpath(member.name).split("/")[0]
                top = top or (first if first in TOPS else TOP)
                entry = _entry(tar, member, shown, top)
                if entry is None:
                    continue
                if entry.name == defaults.UNWRAPPED_PASSPHRASE:
                    passphrase = entry.data.rstrip(b"\n")
                setup.entries.append(entry)
    except (tarfile.TarError, EOFError) as err:
        raise EscrowArchiveInvalid(path=shown, reason="it is not a tar archive (%s)"
                                   % err) from None
    setup.entries.sort(key=lambda e: e.name)
    if not passphrase:
        raise EscrowArchiveInvalid(path=shown, reason="it has no %s/%s"
                                   % (top or TOP, defaults.UNWRAPPED_PASSPHRASE))
    return setup, passphrase


def _entry(tar, member, shown, top):
    name = member.name
    norm = posixpath.normpath(name)
    if name.startswith("/") or norm.startswith("..") or "/../" in "/%s/" % name:
        raise EscrowArchiveInvalid(path=shown, reason="member %r escapes the folder" % name)
    if norm == top and member.isdir():
        return None
    if not norm.startswith(top + "/"):
        raise EscrowArchiveInvalid(path=shown, reason="member %r is outside %s/" % (name, top))
    rel = norm[len(top) + 1:]
    mtime = _mtime(member, shown)
    if member.isdir():
        if rel in FILES:
            raise EscrowArchiveInvalid(path=shown, reason="member %r is a folder, not a file"
                                       % name)
        return Entry(rel, member.mode & 0o7777, mtime)
    if not member.isreg():
        raise EscrowArchiveInvalid(path=shown, reason="member %r is a link or a device"
                                   % name)
    if member.size > defaults.MAX_ECRYPTFS_FILE_BYTES:
        raise EscrowArchiveInvalid(path=shown, reason="member %r is too large" % name)
    data = tar.extractfile(member).read(defaults.MAX_ECRYPTFS_FILE_BYTES + 1)
    return Entry(rel, member.mode & 0o7777, mtime, data)


def _mtime(member, shown):
    # A PAX header may say "1e999" or "nan": tarfile hands on the float.
    mtime = member.mtime
    if not math.isfinite(mtime) or abs(mtime) >= 2 ** 63:
        raise EscrowArchiveInvalid(path=shown, reason="member %r has a modification time that "
                                   "is no time (%r)" % (member.name, mtime))
    return int(mtime)
