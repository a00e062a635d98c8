"""A budget in seconds, through SIGALRM: `with_budget` ends work that hangs.

_signal, not signal: the latter imports enum (~4 ms of every login).
"""

import _signal


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def start(seconds):
    _signal.signal(_signal.SIGALRM, on_alarm)
    _signal.alarm(seconds)


def stop():
    _signal.alarm(0)
