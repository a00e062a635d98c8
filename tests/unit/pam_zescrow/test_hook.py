"""The hook's guard: its time budget, its arguments, and the detached grandchild."""

import os
import subprocess
import time

from pam_zescrow import detach, hook
from tests.conftest import ROOT


def _run_hook(tmp_path, code_before_main, args=(), stdin=b"pw", wait_for=None):
    """Run hook.main in a fresh /usr/bin/python3 -I -S, as pam_exec would; with
    `wait_for`, wait until the detached child logged it."""
    logfile = tmp_path / "hook.log"
    script = ("import sys; sys.path.insert(0, %r)\n%s\nfrom pam_zescrow import hook\n"
              "sys.exit(hook.main(%r))" % (str(ROOT), code_before_main,
                                          ["logfile=%s" % logfile, "debug"] + list(args)))
    env = {"PAM_USER": "nobody-in-particular", "PAM_TYPE": "auth", "PATH": "/usr/bin:/bin"}
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", script], input=stdin,
                          capture_output=True, env=env, timeout=30)
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + 20
    while wait_for and time.monotonic() < deadline:
        if logfile.exists() and wait_for in logfile.read_text():
            break
        time.sleep(0.05)
    return proc, elapsed, (logfile.read_text() if logfile.exists() else "")


def test_the_login_path_only_captures_and_detaches(tmp_path):
    """Whatever the detached child does (here: hang), the hook answers at once."""
    stuck = "import time\nfrom pam_zescrow import login\n" \
            "login.escrow_at_login = lambda *a: time.sleep(30)"
    proc, elapsed, log = _run_hook(tmp_path, stuck)
    assert proc.returncode == 0 and elapsed < 5  # a hang guard, not a benchmark
    assert proc.stdout == proc.stderr == b""  # nothing for auth.log
    assert log == ""


def test_the_decide_budget_ends_a_stuck_child_with_one_line(tmp_path):
    stuck = ("from pam_zescrow import defaults, login\ndefaults.DECIDE_BUDGET_SECONDS = 1\n"
             "import time\nlogin.escrow_at_login = lambda *a: time.sleep(30)")
    proc, _, log = _run_hook(tmp_path, stuck, wait_for="not escrowed")
    assert proc.returncode == 0
    assert "deciding took more than 1 s" in log


def test_an_unexpected_error_is_one_line_without_its_text(tmp_path):
    boom = ("from pam_zescrow import login\n"
            "def run(*a): b'secret \\xff'.decode('utf-8')\nlogin.escrow_at_login = run")
    proc, _, log = _run_hook(tmp_path, boom, wait_for="unexpected")
    assert proc.returncode == 0 and proc.stderr == b""
    assert "unexpected UnicodeDecodeError at" in log
    assert "xff" not in log and "secret" not in log


def test_a_machine_not_enrolled_does_nothing(tmp_path):
    proc, _, log = _run_hook(tmp_path, "", args=["conf=%s" % (tmp_path / "absent.conf")],
                             wait_for="machine not enrolled")
    assert proc.returncode == 0 and "machine not enrolled" in log


def test_arguments_are_only_absolute_paths_and_unknown_ones_are_ignored():
    opts = hook.parse_args(["conf=relative", "state_dir=/s", "debug", "bogus=1", "logfile="])
    assert opts["conf"] == "/etc/zescrow/zescrow.conf" and opts["state_dir"] == "/s"
    assert opts["debug"] is True and opts["logfile"] is None


def test_the_child_is_detached_and_holds_no_inherited_descriptor(tmp_path):
    """As the hook does: detach, then exit at once; the child goes on alone."""
    out = tmp_path / "child.txt"
    script = r'''
import os, sys, time
sys.path.insert(0, %r)
from pam_zescrow import detach
stray_r, stray_w = os.pipe()  # stands for pam_exec's and the login's descriptors
os.set_inheritable(stray_w, True)

def work():
    time.sleep(0.5)  # the parent has exited by now
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    targets = [os.readlink("/proc/self/fd/%%d" %% fd) for fd in (0, 1, 2)]
    with open(%r + ".tmp", "w") as f:
        f.write("%%s|%%s|%%d|%%d|%%d|%%d" %% (fds, targets, os.getsid(0), os.getppid(),
                                      stray_w, os.getpid()))
    os.rename(%r + ".tmp", %r)

print(os.getsid(0), os.getpid(), flush=True)
detach.detach(work)
''' % (str(ROOT), str(out), str(out), str(out))
    proc = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", script], capture_output=True,
                          text=True, timeout=10)
    assert proc.returncode == 0 and proc.stderr == ""  # the parent returned and exited
    parent_sid, parent_pid = map(int, proc.stdout.split())
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    fds, targets, sid, ppid, stray_w, child = out.read_text().split("|")
    assert int(stray_w) not in eval(fds)
    assert eval(targets) == ["/dev/null"] * 3
    assert int(sid) == int(child) != parent_sid  # a session of its own
    assert int(ppid) != parent_pid  # adopted: no zombie waits on the hook
