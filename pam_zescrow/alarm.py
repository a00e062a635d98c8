"""A budget in seconds, through SIGALRM: `with_budget` ends work that hangs.

_signal, not signal: the latter imports enum (~4 ms of every login).
"""

import _signal


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def reset_inherited_signals():
    """Undo what a login program may hand down through pam_exec's exec: a
    blocked SIGALRM would silence every budget, an ignored SIGCHLD would make
    waiting for the escrow's worker fail."""
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)


def start(seconds):
    _signal.signal(_signal.SIGALRM, on_alarm)
    _signal.alarm(seconds)


def stop():
    _signal.alarm(0)
