"""Reading a file a user named (an archive, a Private.sig, a CA file): only a
regular file, and only up to a bound.

/dev/zero given as a Private.sig would be read without end, a fifo that
nobody writes to would be waited on forever, and a folder or a device is
never what was meant. The path is looked at before it is opened (opening
some devices does something), opened with O_NONBLOCK (a fifo then cannot
hold the open), and looked at again through the descriptor (it may have
been swapped in between). Links are followed: on the command line a link
is the user's own way of naming the file, and only the file behind it is
read. The PAM hook has its own, stricter open_regular
(pam_zescrow/fsutil.py), which refuses links too.
"""

import os
import stat

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a fifo"),
          (stat.S_ISSOCK, "a socket"))


class NotAFile(Exception):
    """`path` is not a regular file of at most `limit` bytes; `reason` says what it is."""

    def __init__(self, path, reason, limit):
        super().__init__(reason)
        self.path, self.reason, self.limit = path, reason, limit

    def as_error(self, error_class, **details):
        """The caller's named error for this refusal."""
        return error_class(path=self.path, reason=self.reason, limit=self.limit, **details)


def read_regular(path, limit):
    """The bytes of the regular file `path`, at most `limit` of them, or NotAFile.

    OSError (no such file, permission denied) passes through for the caller to name.
    """
    _check(path, os.stat(path), limit)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        _check(path, os.fstat(fd), limit)
        os.set_blocking(fd, True)
        data = f.read(limit + 1)
    if len(data) > limit:  # it grew after the fstat
        raise NotAFile(path, "it is larger than the limit of %d bytes" % limit, limit)
    return data


def _check(path, st, limit):
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a plain file")
        raise NotAFile(path, "it is %s, not a regular file" % kind, limit)
    if st.st_size > limit:
        raise NotAFile(path, "it is %d bytes, over the limit of %d bytes" % (st.st_size, limit),
                       limit)
