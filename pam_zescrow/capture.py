"""Capture: the LOGIN password, as bytes, into a wipeable Secret.

The PAM hook gets it on stdin (a pipe from pam_zescrow.so, or pam_exec); the CLI
from a terminal without echo or from a file descriptor. A login password
is bytes, not text: it is never decoded. It is read with `readinto` into a
bytearray so that no immutable copy is made on the way in.
"""

import os

from .secret import Secret

# PAM answers are at most 512 bytes (PAM_MAX_RESP_SIZE); eCryptfs allows
# 64. Reading a little more lets us say how long a too-long password was.
MAX_READ = 1024


def read_fd(fd, source, strip_newline=False):
    """Read a password from `fd` until EOF (bounded), into a Secret."""
    secret = read_raw(fd, strip_newline)
    if not secret:
        from .errors import NoPassword

        raise NoPassword(source="%s was empty" % source)
    return secret


def read_raw(fd, strip_newline=False):
    """The hook's way: like read_fd, but an empty Secret when there was none
    (the login path imports no error classes: each module costs every login)."""
    buf = bytearray(MAX_READ + 1)
    view, used = memoryview(buf), 0
    while used < len(buf):
        n = os.readv(fd, [view[used:]])
        if n == 0:
            break
        used += n
    # C semantics: the password ends at the first NUL (pam_exec sends one).
    nul = buf.find(b"\0", 0, used)
    end = used if nul == -1 else nul
    if strip_newline and end and buf[end - 1] == 0x0A:
        end -= 1
    # One copy, of the exact size, straight from the buffer (no bytes object
    # in between); the buffer is then zeroed in place. Never shrink a
    # bytearray that holds a secret: a shrink may move it, leaving the old
    # bytes behind in freed memory where no wipe reaches them.
    secret = Secret.adopt(bytearray(view[:end]))
    view.release()
    buf[:] = bytes(len(buf))
    return secret


def login_password(password_fd, ecryptfs_path):
    """The CLI's way: from --password-fd N (one trailing newline dropped), else the terminal."""
    if password_fd is not None:
        return read_fd(password_fd, "file descriptor %d" % password_fd, strip_newline=True)
    _something_to_unwrap(ecryptfs_path)
    return prompt_tty("LOGIN password (to unwrap %s): " % ecryptfs_path)


def _something_to_unwrap(ecryptfs_path):
    """Never ask for a password when there is no wrapped-passphrase to use it on."""
    from . import defaults
    from .errors import NoEcryptfsSetup

    try:
        os.stat(os.path.join(ecryptfs_path, defaults.WRAPPED_PASSPHRASE))
    except (FileNotFoundError, NotADirectoryError):
        raise NoEcryptfsSetup(path=ecryptfs_path, missing=defaults.WRAPPED_PASSPHRASE) from None
    except OSError:
        pass  # unreadable: the pipeline says so, with the path


def prompt_tty(prompt):
    """Ask on the controlling terminal with echo off; return a Secret."""
    import termios

    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        from .errors import NoPassword

        raise NoPassword(source="there is no terminal to ask on") from None
    try:
        old = termios.tcgetattr(tty)
        new = termios.tcgetattr(tty)
        new[3] &= ~termios.ECHO
        # Echo off (and what was typed ahead flushed) first, then the prompt:
        # the other way round, an answer typed right after the prompt could be
        # flushed, and the read would wait for a line that never comes.
        termios.tcsetattr(tty, termios.TCSAFLUSH, new)
        os.write(tty, prompt.encode())
        try:
            secret = _read_line(tty)
        finally:
            termios.tcsetattr(tty, termios.TCSAFLUSH, old)
            os.write(tty, b"\n")
    finally:
        os.close(tty)
    if not secret:
        from .errors import NoPassword

        raise NoPassword(source="the terminal gave an empty line")
    return secret


def _read_line(fd):
    secret = Secret(bytearray())
    buf = secret._buf
    while len(buf) <= MAX_READ:
        ch = os.read(fd, 1)
        if not ch or ch == b"\n":
            break
        buf.extend(ch)
    return secret
