"""Archive: the gzip'd tar of ~/.ecryptfs that is escrowed.

As the 2012 client did, `wrapped-passphrase` is replaced by
`unwrapped-passphrase` (the MOUNT passphrase and a newline, as
ecryptfs-unwrap-passphrase prints it; mode 0600, the original's mtime).
`wrapped-passphrase` itself is never escrowed: its signature lets anyone
test login-password guesses offline.

The archive is built in memory and is the same bytes for the same input:
sorted members, owner 0:0 without names, gzip header without name or time.
That lets tests compare archives and the server deduplicate them.
S2, honestly: the tar and gzip buffers are immutable bytes that CPython
cannot wipe; they live only in the process that unwraps and seals, which
exits right after.
"""

import gzip
import io
import tarfile
from collections import namedtuple

from . import defaults
from .errors import EcryptfsTooLarge

TOP = defaults.ECRYPTFS_DIRNAME


# `replaced`: the name of the file this member stands in for, if any.
Member = namedtuple("Member", "name size mode is_dir replaced", defaults=(None,))
Archive = namedtuple("Archive", "data members")


def build(setup, mount_passphrase):
    """Return the escrow Archive of an EcryptfsDir with its unwrapped passphrase."""
    buf = io.BytesIO()
    members = []
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, members, TOP, None, setup.mode, setup.mtime)
            for entry in setup.entries:
                if entry.name == defaults.WRAPPED_PASSPHRASE:
                    data = bytes(mount_passphrase.reveal()) + b"\n"
                    _add(tar, members, TOP + "/" + defaults.UNWRAPPED_PASSPHRASE, data,
                         defaults.PRIVATE_FILE_MODE, entry.mtime, replaced=entry.name)
                else:
                    _add(tar, members, TOP + "/" + entry.name, entry.data, entry.mode,
                         entry.mtime)
    data = buf.getvalue()
    if len(data) > defaults.MAX_ARCHIVE_BYTES:
        raise EcryptfsTooLarge(path=setup.path, size=len(data), limit=defaults.MAX_ARCHIVE_BYTES)
    return Archive(data, tuple(members))


def _add(tar, members, name, data, mode, mtime, replaced=None):
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    members.append(Member(name, info.size, mode, data is None, replaced))
