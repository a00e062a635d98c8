"""The PAM hook: `/usr/bin/python3 -I -S …/hook.py`, started by pam_zescrow.so.

It runs in the auth phase, after the stack has accepted the password (the
Additional block of common-auth), with the password on stdin: a pipe from
the PAM module pam_zescrow.so (module/pam_zescrow.c), which has already
returned to the login at idle priority; or, for an admin who prefers it,
`pam_exec.so expose_authtok seteuid`, which waits for the hook. It never
changes the outcome of a login (S4): whatever happens it exits 0 — the
pam.d line is `optional` besides — and it logs one line with the reason.

Under pam_exec the login waits for what the hook does before it exits: the
password is read from stdin, then the hook forks and exits. Everything else runs in the
detached child, at idle CPU and I/O priority, so that logins — a storm of
them too — never wait for zescrow (bench/login --storm):

    login path:  capture → detach
    detached:    (enrolled? a user with eCryptfs?) → decide → supervised worker:
                     unwrap → verify → archive → seal → spool → state

Arguments from the pam.d line (the only configuration it takes; the
environment is not trusted, except PAM_USER and PAM_TYPE that the module
and pam_exec set): conf=FILE, state_dir=DIR, logfile=FILE, budget=SECONDS, debug.

Core dumps are off from the first line on (RLIMIT_CORE 0, soft and hard):
a crash while the password is in memory must not write it to disk.
"""

import os
import sys

if __name__ == "__main__":  # run as a script with -I -S: find our package by our own path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import resource  # noqa: E402

# Before anything reads the password: no core file of this process or of
# anything it starts (the detached child inherits the limit).
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

# Only what the login path needs: every module imported here costs every login.
from pam_zescrow import alarm, capture, defaults  # noqa: E402
from pam_zescrow.detach import detach  # noqa: E402

HOOK_BUDGET_SECONDS = defaults.HOOK_BUDGET_SECONDS


def main(argv):
    """The login path: read the password, hand it to a detached child, exit 0."""
    alarm.reset_inherited_signals()  # the budgets must work whatever the login program set
    opts = parse_args(argv)
    user = os.environ.get("PAM_USER") or ""
    alarm.start(HOOK_BUDGET_SECONDS)  # stdin should never stall; if it does
    try:
        if os.environ.get("PAM_TYPE") != "auth":
            return 0  # the profile puts the hook in auth only: nothing to do elsewhere
        password = capture.read_raw(0)  # empty: a login without one (nullok)
        alarm.stop()
        detach(lambda: _background(opts, user, password))
    except BaseException as err:  # noqa: B902 — nothing may escape into auth.log
        alarm.stop()
        _log_on_the_login_path(opts, user, err)
    return 0


def _background(opts, user, password):
    from pam_zescrow import background  # in the child only: compiled once, cached

    return background.run(opts, user, password)


def _log_on_the_login_path(opts, user, err):
    from pam_zescrow import hooklog
    from pam_zescrow.hooklog import where

    log = hooklog.HookLog(debug=opts["debug"], logfile=opts["logfile"])
    if isinstance(err, alarm.Timeout):
        log.error("user %s: not escrowed: pam_exec's stdin gave no password within %d s"
                  % (user, HOOK_BUDGET_SECONDS))
    else:
        log.error("user %s: not escrowed: unexpected %s at %s (a bug; please report)"
                  % (user, type(err).__name__, where(err)))


def parse_args(argv):
    opts = {"conf": defaults.SYSTEM_CONFIG, "state_dir": defaults.STATE_ROOT,
            "logfile": None, "debug": False, "budget": defaults.CHILD_BUDGET_SECONDS}
    low, high = defaults.CHILD_BUDGET_RANGE
    for arg in argv:
        key, eq, value = arg.partition("=")
        if key == "debug" and not eq:
            opts["debug"] = True
        elif key == "budget" and value.isdigit() and low <= int(value) <= high:
            opts["budget"] = int(value)
        elif key in opts and eq and value.startswith("/"):
            opts[key] = value
        # Unknown arguments are ignored: a typo in pam.d must not break logins.
    return opts


if __name__ == "__main__":
    main(sys.argv[1:])
    # No interpreter teardown: it would cost the login a few ms, and after the
    # fork each page it touches is copied (the child still shares them all).
    # Nothing is buffered: the hook never writes to stdout or stderr.
    os._exit(0)
