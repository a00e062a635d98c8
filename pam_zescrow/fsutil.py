"""The one way zescrow writes a file: atomic, private, durable.

The temporary file is created in the target folder with its final mode
(never chmod after create), written, fsync'd, renamed over the target,
and the folder is fsync'd: a reader sees the old file or the whole new
one, and after a crash the new one is either all there or not at all (S8).
"""

import os
import stat


def atomic_write(path, data, mode=0o600):
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, ".%s.%s.tmp" % (name, os.urandom(4).hex()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _ignored():
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_regular(path, flags=os.O_RDONLY, mode=0o600):
    """Open `path` only if it is a regular file: never a link, a folder or a fifo.

    O_NOFOLLOW refuses a link, O_NONBLOCK keeps a fifo from blocking the open
    (a login would wait for a writer), and fstat checks what was opened.
    Raises UnsafeStateFile for anything else; FileNotFoundError passes through.
    """
    from .errors import UnsafeStateFile

    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise UnsafeStateFile(path=path, reason=_why_not_regular(path, err)) from err
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafeStateFile(path=path, reason="it is not a regular file (mode %o)" % st.st_mode)
    return fd


def _why_not_regular(path, err):
    try:
        st = os.lstat(path)
    except OSError:
        return err.strerror
    for test, kind in ((stat.S_ISLNK, "a link"), (stat.S_ISDIR, "a folder")):
        if test(st.st_mode):
            return "it is %s, not a regular file" % kind
    return err.strerror


def is_temporary(name):
    return name.startswith(".") and name.endswith(".tmp")


class _ignored:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, OSError)
