"""What the server CLI tests share: the program, a throwaway data folder and user.

Each helper leaves the machine as it found it, also when the test fails:
the data folder goes, with any gpg-agent started for it, and the user goes.
"""

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile

CLI = os.path.join(os.path.dirname(sys.executable), "zescrow-server")


@contextlib.contextmanager
def data_folder():
    """A short, empty folder under /tmp (gpg's socket paths break past ~100 characters)."""
    parent = tempfile.mkdtemp(prefix="zsi-", dir="/tmp")
    os.chmod(parent, 0o755)  # so that a throwaway user can reach what is inside
    try:
        yield os.path.join(parent, "d")
    finally:
        stop_agents(os.path.join(parent, "d", "gnupg"))
        shutil.rmtree(parent, ignore_errors=True)


def agents_for(home):
    """The pids of gpg-agents serving the gpg home `home`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"gpg-agent" and home.encode() in argv:
            found.append(int(pid))
    return found


def stop_agents(home):
    if os.path.isdir(home):
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)


@contextlib.contextmanager
def throwaway_user():
    """A system user and group of a fresh name, as the package makes for the server."""
    name = "zst" + secrets.token_hex(4)
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                    "/nonexistent", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        for pid in _pids_of(pwd.getpwnam(name).pw_uid):  # only ours: the user is new
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["userdel", name], capture_output=True)


def _pids_of(uid):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.stat("/proc/" + pid).st_uid == uid:
                found.append(int(pid))
    return found


def as_user(user):
    return ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid,
            "--init-groups"]


def cli(data, *args, prefix=(), **kwargs):
    """Run zescrow-server on `data`; text output, no check."""
    kwargs.setdefault("timeout", 120)
    return subprocess.run(list(prefix) + [CLI, "--data", data] + list(args),
                          capture_output=True, text=True, **kwargs)
