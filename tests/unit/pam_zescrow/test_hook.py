"""The hook's guard: its time budget, its arguments, and the detached grandchild."""

import os
import subprocess
import time

from pam_zescrow import detach, hook
from tests.conftest import ROOT


def _run_hook(tmp_path, code_before_main, args=(), stdin=b"pw"):
    """Run hook.main in a fresh /usr/bin/python3 -I -S, as pam_exec would."""
    logfile = tmp_path / "hook.log"
    script = ("import sys; sys.path.insert(0, %r)\n%s\nfrom pam_zescrow import hook\n"
              "sys.exit(hook.main(%r))" % (str(ROOT), code_before_main,
                                          ["logfile=%s" % logfile, "debug"] + list(args)))
    env = {"PAM_USER": "nobody-in-particular", "PAM_TYPE": "auth", "PATH": "/usr/bin:/bin"}
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", script], input=stdin,
                          capture_output=True, env=env, timeout=30)
    return proc, time.monotonic() - start, (logfile.read_text() if logfile.exists() else "")


def test_the_time_budget_ends_a_stuck_login_path_with_exit_0(tmp_path):
    stuck = ("from pam_zescrow import hook as h\nh.HOOK_BUDGET_SECONDS = 1\n"
             "import time\nh.run = lambda opts, log: time.sleep(30)")
    proc, elapsed, log = _run_hook(tmp_path, stuck)
    assert proc.returncode == 0 and elapsed < 5
    assert "ran out of its 1 s budget" in log
    assert proc.stdout == proc.stderr == b""  # nothing for auth.log but our line


def test_an_unexpected_error_is_one_line_without_its_text(tmp_path):
    boom = ("from pam_zescrow import hook as h\n"
            "def run(opts, log): b'secret \\xff'.decode('utf-8')\nh.run = run")
    proc, _, log = _run_hook(tmp_path, boom)
    assert proc.returncode == 0 and proc.stderr == b""
    assert "unexpected UnicodeDecodeError at" in log
    assert "xff" not in log and "secret" not in log


def test_a_machine_not_enrolled_does_nothing(tmp_path):
    proc, _, log = _run_hook(tmp_path, "", args=["conf=%s" % (tmp_path / "absent.conf")])
    assert proc.returncode == 0 and "machine not enrolled" in log


def test_arguments_are_only_absolute_paths_and_unknown_ones_are_ignored():
    opts = hook.parse_args(["conf=relative", "state_dir=/s", "debug", "bogus=1", "logfile="])
    assert opts["conf"] == "/etc/zescrow/zescrow.conf" and opts["state_dir"] == "/s"
    assert opts["debug"] is True and opts["logfile"] is None


def _zombie_children():
    me, found = str(os.getpid()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and fields[1] == me:
            found.append(pid)
    return found


def test_the_grandchild_is_detached_and_holds_no_inherited_descriptor(tmp_path):
    kept_r, kept_w = os.pipe()
    stray_r, stray_w = os.pipe()  # stands for pam_exec's and the login's descriptors
    os.set_inheritable(stray_w, True)

    def work():
        fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
        targets = [os.readlink("/proc/self/fd/%d" % fd) for fd in (0, 1, 2)]
        os.write(kept_w, ("%s|%s|%d|%d" % (fds, targets, os.getsid(0), os.getppid())).encode())
        return 0

    started = time.monotonic()
    detach.detach(work, keep_fds=[kept_w])
    assert time.monotonic() - started < 1
    os.close(kept_w)
    result = os.read(kept_r, 4096).decode()
    fds, targets, sid, ppid = result.split("|")
    # The listing's own descriptor shows up too; the stray pipe does not.
    assert stray_w not in eval(fds) and stray_r not in eval(fds)
    assert eval(targets) == ["/dev/null"] * 3
    assert int(sid) != os.getsid(0) and int(ppid) != os.getpid()
    assert _zombie_children() == []
    for fd in (kept_r, stray_r, stray_w):
        os.close(fd)
