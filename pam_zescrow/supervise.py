"""Run the detached escrow under a budget, out of the way of logins.

The escrow (two key derivations and gpg) runs in a worker process in its own
process group, watched by a supervisor that holds no secret:

- the worker runs at idle CPU and I/O priority, so that a storm of first
  logins is not slowed by the escrows it starts (they finish when the CPU
  is free; nothing waits for them);
- neither can dump core (RLIMIT_CORE is 0 since the hook's first line) nor
  be read through /proc by the user's other processes (not dumpable);
- when the budget passes, the supervisor kills the worker's whole group —
  gpg and anything else it started — and the outcome is an ordinary, named
  error (BudgetExpired), recorded like any other.

Not covered: memory can still be swapped out; there is no mlockall here
(a user may lock only 8 MiB, and the hook must not fail for it).
"""

import os

import _signal

from .errors import BudgetExpired

IOPRIO_CLASS_IDLE = 3
IOPRIO_WHO_PROCESS = 1
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314}
PR_SET_DUMPABLE = 4


def yield_to_logins():
    """Idle scheduling class and idle I/O class for this process and its children."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)  # the next best thing
    _libc_call("syscall", _IOPRIO_SET.get(os.uname().machine), IOPRIO_WHO_PROCESS, 0,
               IOPRIO_CLASS_IDLE << 13)


def not_dumpable():
    """No core and no ptrace/proc access for this process (kept across fork)."""
    _libc_call("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)


def _libc_call(name, *args):
    if args and args[0] is None:  # an architecture we have no number for
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    getattr(libc, name)(*args)  # best effort: the escrow goes on either way


class _Expired(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Expired()


def run(work, budget, in_supervisor=None):
    """Run `work()` (returns an exit code) in a worker; return its code.

    `in_supervisor` runs in the supervisor right after the fork (to wipe
    its copy of the secret, which only the worker needs).

    Raises BudgetExpired after killing the worker's process group when it
    has not finished within `budget` seconds.
    """
    # The budget starts before the fork: an earlier alarm (the decide step's)
    # is replaced, never left to fire between the fork and the wait.
    _signal.signal(_signal.SIGALRM, _on_alarm)
    _signal.alarm(budget)
    pid = os.fork()  # a pending alarm is not inherited: the worker has none
    if pid == 0:
        code = 1
        try:
            os.setpgid(0, 0)
            code = work() or 0
        finally:
            os._exit(code)
    try:
        os.setpgid(pid, pid)  # also here: no race with an early kill
    except OSError:
        pass  # it already did (or already exited)
    try:
        if in_supervisor is not None:
            in_supervisor()
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    except _Expired:
        _kill_group(pid)
        raise BudgetExpired(seconds=budget) from None
    finally:
        _signal.alarm(0)


def _kill_group(pgid):
    import signal

    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pgid, 0)
