"""What the hook's detached child does for one login, once it holds the password.

First (under the child's decide budget): is the machine enrolled, is this a
person with an eCryptfs setup, was it already escrowed? Reading the user's
files happens with the user's privileges. Only when there is something to
escrow does it drop root for good and run unwrap → verify → archive → seal
→ spool in a supervised worker (supervise.py).
"""

import os
import stat
import time

from . import backoff, config, decide, defaults, ecryptfs_dir, privileges, supervise
from .errors import MemoryFsUnavailable, NotAllowed, WrongPassword, ZescrowError
from .fsutil import open_regular


def escrow_at_login(user_name, password, opts, log):
    enrolment = config.load(opts["conf"], require_root_owned=os.geteuid() == 0)
    if not enrolment.enrolled:
        log.debug("user %s: machine not enrolled (%s): nothing to do" % (user_name,
                                                                          opts["conf"]))
        return
    user = privileges.User.lookup(user_name)
    if user.uid < enrolment.min_uid:
        log.debug("user %s: a system user (uid %d < %d): nothing to do"
                  % (user.name, user.uid, enrolment.min_uid))
        return
    ecryptfs_path = os.path.join(user.home, defaults.ECRYPTFS_DIRNAME)
    user_dir = os.path.join(opts["state_dir"], user.name)
    with privileges.as_user(user):
        if not os.path.lexists(ecryptfs_path):
            log.debug("user %s: no eCryptfs setup at %s: nothing to do"
                      % (user.name, ecryptfs_path))
            return
    ensure_user_dir(opts["state_dir"], user_dir, user)
    with privileges.as_user(user):
        lock = _try_lock(user_dir)
        if lock is None:
            log.debug("user %s: an escrow is already under way: nothing to do" % user.name)
            return
        setup = ecryptfs_dir.read(ecryptfs_path, _rc_path(user), trusted_uids={0, user.uid})
        sealed_to = decide.target(enrolment.fingerprint, enrolment.custodians_mode())
        needed, why = decide.decide(setup, user_dir, sealed_to)
        if needed:
            wait = backoff.seconds_left(user_dir)
    if not needed:
        log.debug("user %s: %s: nothing to do" % (user.name, why))
        return
    if wait:
        log.info("user %s: %s, but a password did not unwrap the key lately: backing off "
                 "for %d s more (is the hook placed after the password check? docs/pam.md)"
                 % (user.name, why, wait))
        return
    log.debug("user %s: %s: escrowing in the background" % (user.name, why))
    # The lock stays held (by this process and the worker it forks) until the
    # escrow is done; it goes with the last of them.
    return _escrow_detached(user, setup, password, enrolment, user_dir, log, opts["budget"])


def _try_lock(user_dir):
    """An exclusive lock on USER/.lock, or None when another login holds it."""
    import fcntl

    fd = open_regular(os.path.join(user_dir, ".lock"), os.O_RDWR | os.O_CREAT,
                      defaults.PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def ensure_user_dir(state_root, user_dir, user):
    """/var/lib/zescrow/USER: made by root, 0700, then handed to the user."""
    if os.geteuid() == 0:
        if not os.path.isdir(state_root):
            old_umask = os.umask(0o022)  # the child's is 077: users must reach their folders
            try:
                os.makedirs(state_root, mode=0o755, exist_ok=True)
            finally:
                os.umask(old_umask)
        try:
            os.mkdir(user_dir, defaults.PRIVATE_DIR_MODE)
            os.chown(user_dir, user.uid, user.gid)
        except FileExistsError:
            pass
    try:
        st = os.lstat(user_dir)
    except OSError as err:
        raise NotAllowed(user=user.name, reason="its state folder %s is missing (%s)"
                         % (user_dir, err.strerror)) from err
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != user.uid:
        raise NotAllowed(user=user.name, reason="%s is not a folder that belongs to the user"
                         % user_dir)


def _escrow_detached(user, setup, password, enrolment, user_dir, log, budget):
    """In the grandchild: drop root, then unwrap → … → spool in a supervised
    worker (supervise.py), and record the outcome."""
    import tempfile

    from . import state

    state_path = state.path_in(user_dir)
    gnupg_parent = None
    try:
        # Still root: the host's voucher for this user, signed in a child so that
        # the host key is never in a process that becomes the user's (#13).
        voucher = _voucher(enrolment, user, log) if enrolment.host_id else None
        privileges.become(user)  # already at idle priority (hook.background)
        supervise.not_dumpable()
        try:  # gpg's throwaway home goes in here: removed even if the worker is killed
            gnupg_parent = tempfile.mkdtemp(prefix="zs-", dir=defaults.GNUPG_HOME_PARENT)
        except OSError as err:
            raise MemoryFsUnavailable(path=defaults.GNUPG_HOME_PARENT,
                                      reason=err.strerror) from err
        work = lambda: _escrow(user, setup, password, enrolment, user_dir, log, gnupg_parent,  # noqa: E731
                               voucher)
        # The worker has its copy of the password; the supervisor wipes its own.
        return supervise.run(work, budget, in_supervisor=password.wipe)
    except ZescrowError as err:
        _failed(user, err, state_path, log)
        return 1
    except BaseException as err:  # noqa: B902 — the detached child logs, never raises
        log.error("user %s: not escrowed: unexpected %s (a bug; please report)"
                  % (user.name, type(err).__name__))
        return 1
    finally:
        password.wipe()
        if gnupg_parent:
            import shutil

            shutil.rmtree(gnupg_parent, ignore_errors=True)


def _escrow(user, setup, password, enrolment, user_dir, log, gnupg_parent, voucher=None):
    """In the worker: unwrap → verify → archive → seal → spool."""
    from . import state

    started = time.monotonic()
    state_path = state.path_in(user_dir)
    try:
        _enable_site_packages()  # gnupg lives there; the hook started with -S
        from . import pipeline

        prepared = pipeline.prepare_setup(setup, password)
        password.wipe()  # unwrapped: the login password is not needed for sealing
        entry = pipeline.escrow(prepared, enrolment.key_file, enrolment.fingerprint,
                                os.path.join(user_dir, defaults.SPOOL_DIRNAME), user.name,
                                server_url=enrolment.url, gnupg_parent=gnupg_parent,
                                custodians=enrolment.custodians_mode(), voucher=voucher)
        backoff.clear(user_dir)
        _record(state_path, last_spooled={k: entry.meta.get(k) for k in (
            "archive", "setup_digest", "key_signature", "sha256", "created")}, last_error=None)
        log.info("user %s: sealed and spooled %s (key signature %s) in %.2f s"
                 % (user.name, entry.name, prepared.verified.fekek_sig,
                    time.monotonic() - started))
        return 0
    except ZescrowError as err:
        if isinstance(err, WrongPassword):
            backoff.record_wrong_password(user_dir)
        _failed(user, err, state_path, log)
        return 1
    except BaseException as err:  # noqa: B902 — the worker logs, never raises
        log.error("user %s: not escrowed: unexpected %s (a bug; please report)"
                  % (user.name, type(err).__name__))
        return 1
    finally:
        password.wipe()


def _failed(user, err, state_path, log):
    log.error("user %s: not escrowed: %s [%s]" % (user.name, err.text, err.code))
    _record(state_path, last_error={"code": err.code, "message": err.text,
                                    "hint": err.hint_text, "at": _now()})


def _record(state_path, **changes):
    from . import state

    if os.geteuid() == 0:  # never leave a root-owned state file in the user's folder
        return
    try:
        state.update(state_path, lambda current: current.update(changes))
    except OSError:
        pass  # the spool and the log still say what happened


def _voucher(enrolment, user, log):
    """The host's voucher for `user` ({"statement", "signature"}, base64), or None
    with a log line: without one, a server that requires enrolment refuses the upload."""
    import base64
    import json

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # root, short-lived: reads the key, signs, writes the voucher, exits
        code = 1
        try:
            os.close(read_end)
            _enable_site_packages()
            from zescrow_core import hostkey

            st = os.stat(enrolment.host_key, follow_symlinks=False)
            if not os.path.isfile(enrolment.host_key) or os.path.islink(enrolment.host_key) \
                    or st.st_uid != 0 or st.st_mode & 0o077:
                raise OSError("it is not a regular file of root's that only root can read")
            statement, signature = hostkey.voucher(enrolment.host_key, enrolment.host_id,
                                                   user.name)
            os.write(write_end, json.dumps({"statement": base64.b64encode(statement).decode(),
                                            "signature": signature}).encode())
            code = 0
        except BaseException as err:  # noqa: B902 — the reason goes to the parent's log
            os.write(write_end, b"!" + str(err).encode("utf-8", "replace")[:300])
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        answer = f.read(8192)
    os.waitpid(pid, 0)
    if answer.startswith(b"{"):
        return json.loads(answer)
    log.error("user %s: no voucher from the host key %s (%s): a server that requires "
              "enrolment will refuse this escrow; run zescrowctl setup URL --system --token T "
              "again" % (user.name, enrolment.host_key,
                         answer[1:].decode("utf-8", "replace") or "it failed"))
    return None


def _enable_site_packages():
    import sys

    if sys.flags.no_site:
        import site

        site.main()


def _rc_path(user):
    return os.path.join(user.home, defaults.ECRYPTFSRC)


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
