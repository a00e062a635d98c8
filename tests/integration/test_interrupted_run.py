"""A test run stopped with SIGTERM or Ctrl-C still removes the throwaway users
and PAM services its fixtures made (issue #9: a machine is never fresh)."""

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT, require

pytestmark = pytest.mark.root

INNER = '''
import time
from tests.integration.test_pam_hook import machine, MOUNT, PASSWORD  # noqa: F401


def test_waits(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    print("MADE", user, machine.service(), flush=True)
    time.sleep(120)
'''


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_removes_its_users_and_services(tmp_path, signum):
    require(os.geteuid() == 0, "real users and /etc/pam.d need root")
    inner = tmp_path / "test_inner.py"
    inner.write_text(INNER)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                             "--rootdir", str(ROOT), "-c", str(ROOT / "pytest.ini"),
                             "-p", "tests.conftest", str(inner)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    made = None
    try:
        for line in proc.stdout:
            if line.startswith("MADE"):
                made = line.split()[1:]
                break
        assert made, "the inner test never made its user"
        proc.send_signal(signum)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    user, service = made
    assert subprocess.run(["getent", "passwd", user], capture_output=True).returncode != 0
    assert not os.path.exists("/etc/pam.d/" + service)
