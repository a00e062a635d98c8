"""`make demo` tells the whole story end to end; this keeps it working."""

import os
import re
import signal
import socket
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


def _alive(pattern):
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_demo_removes_what_it_made(server_key, signum):
    """Killed after the login (server, OIDC provider, gpg-agent and user all
    exist), the demo still removes every one of them."""
    require(os.geteuid() == 0, "the demo makes a throwaway user and PAM service")
    users_before = open("/etc/passwd").read()
    proc = subprocess.Popen([sys.executable, str(ROOT / "demo" / "demo.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "zescrowd, as the user" in line:
                break
        else:
            raise AssertionError("the demo ended before the login:\n" + "".join(seen))
        text = "".join(seen)
        user = re.search(r"user (zt[0-9a-f]+);", text).group(1)
        server, oidc = re.search(r"server https://127\.0\.0\.1:(\d+), login provider "
                                 r"http://127\.0\.0\.1:(\d+)", text).groups()
        key_home = re.search(r"server key in (\S+)", text).group(1)
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "interrupted" in rest, rest
    assert user not in open("/etc/passwd").read()
    assert open("/etc/passwd").read() == users_before
    for port in (server, oidc):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", int(port))) != 0, "port %s still served" % port
    assert not _alive("provider.mjs %s" % oidc)
    assert not _alive("gpg-agent --homedir %s" % key_home)
    assert not os.path.exists(key_home)
