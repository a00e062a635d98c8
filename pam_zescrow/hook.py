"""The PAM hook: `pam_exec.so expose_authtok seteuid /usr/bin/python3 -I -S …/hook.py`.

It runs in the auth phase, after the stack has accepted the password (the
Additional block of common-auth), with the password on stdin. It never
changes the outcome of a login (S4): whatever happens it exits 0 — the
pam.d line is `optional` besides — and it logs one line with the reason.
A hard alarm bounds its own time; the expensive steps run detached.

    capture → (enrolled? a user with eCryptfs?) → decide → detach:
        unwrap → verify → archive → seal → spool → state

Arguments from the pam.d line (the only configuration it takes; the
environment is not trusted, except PAM_USER and PAM_TYPE that pam_exec
sets): conf=FILE, state_dir=DIR, logfile=FILE, budget=SECONDS, debug.

Core dumps are off from the first line on (RLIMIT_CORE 0, soft and hard):
a crash while the password is in memory must not write it to disk.
"""

import os
import sys

if __name__ == "__main__":  # run as a script with -I -S: find our package by our own path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# _signal, not signal: the latter imports enum (~4 ms of every login).
import _signal  # noqa: E402
import resource  # noqa: E402

# Before anything reads the password: no core file of this process or of
# anything it starts (the detached escrow inherits the limit).
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

from pam_zescrow import capture, defaults, hooklog  # noqa: E402
from pam_zescrow.errors import NoPassword, ZescrowError  # noqa: E402

HOOK_BUDGET_SECONDS = defaults.HOOK_BUDGET_SECONDS
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class Timeout(Exception):
    pass


def main(argv):
    opts = parse_args(argv)
    log = hooklog.HookLog(debug=opts["debug"], logfile=opts["logfile"])
    user = os.environ.get("PAM_USER", "?")
    _signal.signal(_signal.SIGALRM, _on_alarm)
    _signal.alarm(HOOK_BUDGET_SECONDS)
    try:
        run(opts, log)
    except ZescrowError as err:
        log.error("user %s: not escrowed: %s [%s]" % (user, err.text, err.code))
    except Timeout:
        log.error("user %s: not escrowed: the hook ran out of its %d s budget on the login "
                  "path (slow file system?)" % (user, HOOK_BUDGET_SECONDS))
    except BaseException as err:  # noqa: B902 — nothing may escape into auth.log
        log.error("user %s: not escrowed: unexpected %s at %s (a bug; please report)"
                  % (user, type(err).__name__, _where(err)))
    finally:
        _signal.alarm(0)
    return 0


def run(opts, log):
    if os.environ.get("PAM_TYPE") != "auth":
        log.debug("called for %s, not auth: nothing to do" % os.environ.get("PAM_TYPE"))
        return
    user_name = os.environ.get("PAM_USER") or ""
    try:
        password = capture.read_fd(0, "pam_exec's stdin")
    except NoPassword:  # a login without a password (nullok): nothing to unwrap with
        log.debug("user %s: logged in without a password: nothing to do" % user_name)
        return
    # From here on, nothing from the caller's environment: su keeps its caller's.
    os.environ.clear()
    os.environ.update(PATH=SAFE_PATH, LC_ALL="C")
    with password:
        from pam_zescrow import login

        login.escrow_at_login(user_name, password, opts, log)


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


def _on_alarm(signum, frame):
    raise Timeout()


def _where(err):
    # The type and the line, never str(err): a stray exception's text could
    # quote bytes of the password (UnicodeDecodeError does).
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return "%s:%d" % (os.path.basename(tb.tb_frame.f_code.co_filename), tb.tb_lineno)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
