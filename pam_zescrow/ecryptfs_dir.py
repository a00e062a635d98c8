"""Reading a user's ~/.ecryptfs: bounded, without following stray links (S7).

`~/.ecryptfs` is usually a symlink to `/home/.ecryptfs/USER/.ecryptfs`
(outside the encrypted mount, so it is readable at login): that one link
is followed. Inside, only regular files and folders are read; a link is
accepted only when it stays inside the folder; devices, sockets and fifos
are refused, and so is anything over the size bounds.
"""

import os

try:  # CPython's built-in SHA-256: no OpenSSL load (~2.5 ms) on the hook's fast path
    from _sha256 import sha256
except ImportError:  # other interpreters, CPython 3.12+ (_sha2)
    from hashlib import sha256
import stat

from . import defaults
from .ecryptfs_crypto import DEFAULT_SALT, SALT_BYTES
from .errors import (BadEcryptfsrc, EcryptfsTooLarge, NoEcryptfsSetup,
                     UnreadableFile, UnsafeEcryptfsEntry, UntrustedFile)


# What the kernel makes up as it is read: never a user's key folder.
KERNEL_FILE_SYSTEMS = ("/proc/", "/sys/", "/dev/")


class Entry:
    """A file or folder: name relative to the folder ("/"-separated),
    permission bits, mtime, and the bytes (None for a folder).

    A plain class, not a namedtuple: `collections` costs ~2.5 ms of every
    login, and the hook reads this on the login path."""

    __slots__ = ("name", "mode", "mtime", "data")

    def __init__(self, name, mode, mtime, data=None):
        self.name, self.mode, self.mtime, self.data = name, mode, mtime, data

    def __eq__(self, other):
        return isinstance(other, Entry) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return "Entry(%r, %o, %d, %s)" % (self.name, self.mode, self.mtime,
                                        "folder" if self.data is None else "%d bytes"
                                        % len(self.data))

    def _key(self):
        return (self.name, self.mode, self.mtime, self.data)

    @property
    def is_dir(self):
        return self.data is None


class EcryptfsDir:
    """What was read: `path` as given (may be the link), `real_path` behind
    it, the entries sorted by name, the v1 salt, the folder's mode and mtime."""

    def __init__(self, path, real_path, mode, mtime):
        self.path, self.real_path = path, real_path
        self.mode, self.mtime = mode, mtime
        self.entries = []
        self.v1_salt = DEFAULT_SALT

    def get(self, name):
        for entry in self.entries:
            if entry.name == name and not entry.is_dir:
                return entry
        return None

    def file_path(self, name):
        return os.path.join(self.path, name)

    def setup_digest(self):
        """A digest of the non-secret files: changes when the setup changes.

        wrapped-passphrase is left out on purpose: it changes with every
        login-password change (ecryptfs-rewrap-passphrase) while the MOUNT
        passphrase — what we escrow — stays the same.
        """
        h = sha256()
        for entry in self.entries:
            if entry.name == defaults.WRAPPED_PASSPHRASE:
                continue
            h.update(b"%s\0%o\0" % (entry.name.encode("utf-8", "surrogateescape"), entry.mode))
            h.update(b"D" if entry.is_dir else b"F%d\0%s" % (len(entry.data), entry.data))
        return h.hexdigest()


def read(path, ecryptfsrc=None, trusted_uids=None):
    """Read the eCryptfs folder at `path` (and the v1 salt from `ecryptfsrc`).

    With `trusted_uids` (the PAM hook: the user and root), every link,
    folder and file must belong to one of them (fscrypt's TrustedUser).
    """
    reader = _Reader(trusted_uids)
    real = reader.follow_top_link(path)
    st = os.stat(real)
    reader.check(st, path)
    result = EcryptfsDir(path=path, real_path=real, mode=stat.S_IMODE(st.st_mode),
                         mtime=int(st.st_mtime))
    reader.walk(real, "", result.entries, path)
    result.entries.sort(key=lambda e: e.name)
    if result.get(defaults.WRAPPED_PASSPHRASE) is None:
        raise NoEcryptfsSetup(path=path, missing=defaults.WRAPPED_PASSPHRASE)
    if ecryptfsrc is not None:
        result.v1_salt = read_v1_salt(ecryptfsrc, trusted_uids)
    return result


def read_v1_salt(rc_path, trusted_uids=None):
    """The `salt=` of ~/.ecryptfsrc (only v1 files need it), else the default."""
    try:
        data = _Reader(trusted_uids).read_bounded(rc_path, rc_path)
    except UnreadableFile as err:
        if isinstance(err.__cause__, FileNotFoundError):
            return DEFAULT_SALT
        raise
    for line in data.decode("ascii", "replace").replace(",", "\n").splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() != "salt":
            continue
        value = value.strip()
        try:
            salt = bytes.fromhex(value)
        except ValueError:
            raise BadEcryptfsrc(path=rc_path, reason="%r is not hexadecimal" % value) from None
        if len(salt) != SALT_BYTES:
            raise BadEcryptfsrc(path=rc_path, reason="it is %d bytes, not 8" % len(salt))
        return salt
    return DEFAULT_SALT


class _Reader:
    """One bounded read of a folder, accepting only `trusted_uids`' files."""

    def __init__(self, trusted_uids):
        self.trusted_uids = trusted_uids
        self.count = 0

    def check(self, st, shown):
        if self.trusted_uids is not None and st.st_uid not in self.trusted_uids:
            raise UntrustedFile(path=shown, uid=st.st_uid)

    def follow_top_link(self, path):
        st = _lstat(path, path)
        if st is None:
            raise NoEcryptfsSetup(path=path, missing="such folder")
        self.check(st, path)
        real = path
        if stat.S_ISLNK(st.st_mode):
            real = os.path.join(os.path.dirname(path), os.readlink(path))
            st = _lstat(real, path)
            if st is None:
                raise NoEcryptfsSetup(path=path, missing="folder behind the link (%s)" % real)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeEcryptfsEntry(path=path, reason="it is a link to another link "
                                          "(%s); zescrow follows one link only" % real)
        if not stat.S_ISDIR(st.st_mode):
            raise NoEcryptfsSetup(path=path, missing="folder (it is a file)")
        real = os.path.normpath(real)
        # realpath: a link on the way (~/p -> /proc) must not hide where it leads.
        if (os.path.realpath(real) + "/").startswith(KERNEL_FILE_SYSTEMS):
            raise UnsafeEcryptfsEntry(path=path, reason="it leads to %s, a kernel file "
                                      "system, not an eCryptfs folder" % real)
        return real

    def walk(self, root, prefix, out, shown_root):
        here = os.path.join(root, prefix)
        try:
            names = sorted(os.listdir(here))
        except OSError as err:
            raise UnreadableFile(path=os.path.join(shown_root, prefix),
                                 reason=err.strerror) from err
        for name in names:
            self.count += 1
            if self.count > defaults.MAX_ECRYPTFS_ENTRIES:
                raise EcryptfsTooLarge(path=shown_root, size="more than %d entries"
                                       % defaults.MAX_ECRYPTFS_ENTRIES,
                                       limit=defaults.MAX_ECRYPTFS_ENTRIES)
            self.add(root, prefix + name, out, shown_root)

    def add(self, root, rel, out, shown_root):
        full = os.path.join(root, rel)
        shown = os.path.join(shown_root, rel)
        st = _lstat(full, shown)
        if st is None:  # removed while we listed: nothing to read
            return
        self.check(st, shown)
        if stat.S_ISLNK(st.st_mode):
            full, st = self.inside_link(root, full, shown)
        if stat.S_ISDIR(st.st_mode):
            out.append(Entry(rel, stat.S_IMODE(st.st_mode), int(st.st_mtime)))
            self.walk(root, rel + "/", out, shown_root)
        elif stat.S_ISREG(st.st_mode):
            data = self.read_bounded(full, shown)
            out.append(Entry(rel, stat.S_IMODE(st.st_mode), int(st.st_mtime), data))
        else:
            raise UnsafeEcryptfsEntry(path=shown, reason="it is a %s, not a regular file"
                                      % _kind(st.st_mode))

    def inside_link(self, root, full, shown):
        target, real_root = os.path.realpath(full), os.path.realpath(root)
        if os.path.commonpath([target, real_root]) != real_root:
            raise UnsafeEcryptfsEntry(path=shown, reason="it is a link that points outside "
                                      "the eCryptfs folder (to %s)" % target)
        st = _lstat(target, shown)
        if st is None or stat.S_ISDIR(st.st_mode):
            raise UnsafeEcryptfsEntry(path=shown, reason="it is a link to a folder or to "
                                      "nothing")
        self.check(st, shown)
        return target, st

    def read_bounded(self, path, shown):
        try:
            # O_NONBLOCK: a fifo swapped in after the lstat must not hang us;
            # O_NOFOLLOW: neither must a link swapped in.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            raise UnreadableFile(path=shown, reason=err.strerror) from err
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            self.check(st, shown)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeEcryptfsEntry(path=shown, reason="it is a %s" % _kind(st.st_mode))
            data = f.read(defaults.MAX_ECRYPTFS_FILE_BYTES + 1)
        if len(data) > defaults.MAX_ECRYPTFS_FILE_BYTES:
            raise EcryptfsTooLarge(path=shown, size="more than %d"
                                   % defaults.MAX_ECRYPTFS_FILE_BYTES,
                                   limit=defaults.MAX_ECRYPTFS_FILE_BYTES)
        return data


def _lstat(path, shown):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise UnreadableFile(path=shown, reason=err.strerror) from err


def _kind(mode):
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "link")):
        if test(mode):
            return name
    return "special file"
