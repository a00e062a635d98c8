"""`make demo` tells the whole story end to end; this keeps it working."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, require

pytestmark = [pytest.mark.slow, pytest.mark.root]


def test_the_demo_runs_start_to_finish_and_leaves_nothing(server_key):
    require(os.geteuid() == 0, "the demo makes a throwaway user and PAM service")
    users_before = open("/etc/passwd").read()
    pam_before = sorted(os.listdir("/etc/pam.d"))
    proc = subprocess.run([sys.executable, str(ROOT / "demo" / "demo.py")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for words in ("sealed and spooled", "uploaded", "not claimed yet", "verified",
                  "matches its Private.sig", "It is the key of"):
        assert words in proc.stdout + proc.stderr, words
    assert open("/etc/passwd").read() == users_before
    assert sorted(os.listdir("/etc/pam.d")) == pam_before
