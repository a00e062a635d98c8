"""Detach: run the escrow in a child of its own, so that login does not wait.

pam_exec waits for the hook; the hook must answer at once. It forks once
and returns at once, and then exits: the child is adopted by init (or the
nearest subreaper), which reaps it, so no zombie is left. There is no
double fork: under a storm of logins every extra hop the login waits for
is a wait for a CPU. The child starts a new session, holds the secret in
memory only (never argv, environment or a file), points stdin, stdout and
stderr at /dev/null — nothing it does may hold the login's descriptors —
and closes every other descriptor it inherited from pam_exec.

The caller must exit right after: a long-lived parent would collect the
child as a zombie. Only the hook uses this.
"""

import os


def detach(work, keep_fds=()):
    """Run `work()` in a detached child; return in the parent at once."""
    if os.fork() != 0:
        return
    code = 1
    try:
        os.setsid()
        _cut_ties(keep_fds)
        code = work() or 0
    finally:
        os._exit(code)  # never return into the hook's code path twice


def _cut_ties(keep_fds):
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = sorted(set(keep_fds) | {0, 1, 2})
    start = 3
    for fd in keep + [os.sysconf("SC_OPEN_MAX")]:
        if fd >= start:
            os.closerange(start, fd)
            start = fd + 1
    os.chdir("/")
    os.umask(0o077)
