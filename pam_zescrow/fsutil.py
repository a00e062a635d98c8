"""The one way zescrow writes a file: atomic, private, durable.

The temporary file is created in the target folder with its final mode
(never chmod after create), written, fsync'd, renamed over the target,
and the folder is fsync'd: a reader sees the old file or the whole new
one, and after a crash the new one is either all there or not at all (S8).
"""

import os


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


def is_temporary(name):
    return name.startswith(".") and name.endswith(".tmp")


class _ignored:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, OSError)
