"""What the hook's detached child runs: everything but the capture.

It lowers itself to idle priority before anything else, clears the
environment it inherited (under su it is the caller's), opens the log, and
runs the login's escrow (login.py) within the decide budget; the escrow
proper then runs supervised, within its own budget (supervise.py). Every
outcome is one log line; nothing is raised.
"""

import os

from pam_zescrow import alarm, defaults

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def run(opts, user_name, password):
    """In the detached child: everything but the capture, bounded by budgets."""
    try:  # first, before any import: the child must not compete with logins at all
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        pass  # supervise.yield_to_logins falls back to nice 19
    from pam_zescrow import hooklog, supervise
    from pam_zescrow.errors import ZescrowError
    from pam_zescrow.hooklog import where

    supervise.yield_to_logins()
    # From here on, nothing from the caller's environment: su keeps its caller's.
    os.environ.clear()
    os.environ.update(PATH=SAFE_PATH, LC_ALL="C")
    log = hooklog.HookLog(debug=opts["debug"], logfile=opts["logfile"])
    alarm.start(defaults.DECIDE_BUDGET_SECONDS)  # the supervised worker has its own budget
    try:
        if not password:  # nothing to unwrap with
            log.debug("user %s: logged in without a password: nothing to do" % user_name)
            return 0
        with password:
            from pam_zescrow import login

            return login.escrow_at_login(user_name, password, opts, log)
    except ZescrowError as err:
        log.error("user %s: not escrowed: %s [%s]" % (user_name, err.text, err.code))
    except alarm.Timeout:
        log.error("user %s: not escrowed: deciding took more than %d s (a slow or hung file "
                  "system?)" % (user_name, defaults.DECIDE_BUDGET_SECONDS))
    except BaseException as err:  # noqa: B902 — the detached child logs, never raises
        log.error("user %s: not escrowed: unexpected %s at %s (a bug; please report)"
                  % (user_name, type(err).__name__, where(err)))
    finally:
        alarm.stop()
    return 1
