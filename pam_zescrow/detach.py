"""Detach: run the expensive steps in a grandchild, so that login does not wait.

pam_exec waits for the hook; the hook must answer at once. It forks, the
child starts a new session and forks again, and exits; the hook reaps it
at once, so no zombie is left, and the grandchild is adopted by init. The
grandchild inherits the secret in memory only (never argv, environment or
a file), points stdin, stdout and stderr at /dev/null and closes every
other descriptor it inherited from pam_exec, except the log's.
"""

import os


def detach(work, keep_fds=()):
    """Run `work()` in a detached grandchild; return in the parent at once."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            if os.fork() == 0:
                _cut_ties(keep_fds)
                code = work() or 0
            else:
                code = 0
        finally:
            os._exit(code)  # never return into the hook's code path twice
    os.waitpid(pid, 0)


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
