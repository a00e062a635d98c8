"""Running the installed zescrowctl as a user would, in a subprocess."""

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.common.ecryptfs_tools import make_setup

LOGIN = b"login \xe9 pw"  # not valid UTF-8 on purpose
MOUNT = b"0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def zescrowctl_argv():
    script = os.path.join(os.path.dirname(sys.executable), "zescrowctl")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-c", "from zescrowd.cli import run; run()"]


@dataclass
class Result:
    rc: int
    out: str
    err: str


def zescrowctl(*args, password=None, user=None, env=None):
    """Run zescrowctl; the password, when given, goes through --password-fd 0."""
    argv = zescrowctl_argv() + list(args)
    if password is not None:
        argv += ["--password-fd", "0"]
    if user is not None:  # as another uid, without a passwd entry or a session
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
    proc = subprocess.run(argv, input=password or b"", capture_output=True, timeout=60,
                          start_new_session=True, env=env)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def setup_dir(tmp_path, real_tools):
    return make_setup(tmp_path, MOUNT, LOGIN)
