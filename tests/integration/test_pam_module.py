"""pam_zescrow.so, the module that starts the hook, through real Linux-PAM stacks.

What the hook is started with is read by a probe: a stand-in for hook.py
(named so) that writes down what it was given — its environment, arguments,
descriptors, priority, limits, signals and stdin — and waits for the test's
word before it exits, so that the test sees the login return while the hook
is still running. Everything else runs the real hook (test_pam_hook.py and
the rest go through the profile's line too).
"""

import json
import os
import re
import subprocess
import textwrap
import time

import pytest

from tests.common.pam import HOOK, MODULE, PROFILE
from tests.integration.test_pam_hook import FAILED, MOUNT, PASSWORD, SPOOLED, login_ok, machine  # noqa: F401

pytestmark = pytest.mark.root

PROBE_HOOK = textwrap.dedent("""\
    import json, os, resource, sys, time
    out, go = sys.argv[1].split("=", 1)[1], sys.argv[2].split("=", 1)[1]
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    seen = {
        "argv": sys.argv, "stdin": sys.stdin.buffer.read().hex(),
        "env": dict(kv.split("=", 1)  # as exec'd: Python itself adds LC_CTYPE to os.environ
                    for kv in open("/proc/self/environ").read().split(chr(0)) if kv),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "policy": os.sched_getscheduler(0), "core": resource.getrlimit(resource.RLIMIT_CORE),
        "blocked": status["SigBlk"].strip(), "ignored": status["SigIgn"].strip(),
        "sid_is_pid": os.getsid(0) == os.getpid(), "pid": os.getpid(), "ppid": os.getppid(),
        "uids": os.getresuid(),
        "isolated": sys.flags.isolated, "no_site": sys.flags.no_site,
        "python": os.readlink("/proc/self/exe"),
    }
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(seen, f)
    os.rename(tmp, out)
    while not os.path.exists(go):  # the test says when: the login returned long before
        time.sleep(0.02)
""")


@pytest.fixture
def probe(machine):
    path = machine.base / "probe_hook.py"
    path.write_text(PROBE_HOOK)
    os.chmod(path, 0o644)
    out, go = machine.base / "probe.json", machine.base / "probe.go"
    yield path, out, go
    go.touch()  # a probe still waiting ends


def _service_with(machine, hook, *args, launcher_args=()):
    name = machine.service(with_hook=False)
    path = "/etc/pam.d/" + name
    lines = open(path).read().splitlines()
    module = "auth\toptional\t%s hook=%s %s" % (MODULE, hook, " ".join(
        list(launcher_args) + list(args)))
    lines.insert(3, module)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return name


def _wait_for_file(path, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path
        time.sleep(0.02)
    raise AssertionError("%s never appeared" % path)


def test_the_profile_starts_the_hook_with_the_module_not_pam_exec():
    text = PROFILE.read_text()
    auth = re.findall(r"^Auth(?:-Final)?:\n\t(.*)$", text, flags=re.M)
    assert auth == ["optional\tpam_zescrow.so"] * 2, text
    assert "pam_exec" not in text


def test_the_hook_gets_the_password_on_stdin_and_nothing_of_the_login_program(machine, probe):
    """Only PAM_USER, PAM_TYPE and a fixed PATH; stdin is the password; no other
    descriptor; idle CPU priority, no core file, its own session, no blocked or
    ignored signal (the login program here blocks SIGALRM and ignores SIGCHLD);
    and the login returns while the hook still runs."""
    path, out, go = probe
    user = machine.add_user(PASSWORD, MOUNT)
    service = _service_with(machine, path, "out=%s" % out, "go=%s" % go, "conf=/x")
    careless = ["/usr/bin/python3", "-c", "import os, signal, sys; "
                "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM]); "
                "signal.signal(signal.SIGCHLD, signal.SIG_IGN); "
                "os.environ['SECRET_OF_THE_CALLER'] = 'x'; "
                "os.execvp(sys.argv[1], sys.argv[1:])"]
    proc = machine.pamtester(service, user, PASSWORD, wrap=careless)
    assert proc.returncode == 0, proc.stderr
    assert not go.exists()  # the login is done; the hook waits for `go` still
    seen = json.loads(_wait_for_file(out).read_text())
    assert bytes.fromhex(seen["stdin"]) == PASSWORD
    assert seen["argv"][1:] == ["out=%s" % out, "go=%s" % go, "conf=/x"]
    assert seen["env"] == {"PAM_USER": user, "PAM_TYPE": "auth",
                           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    assert PASSWORD.hex() not in json.dumps(seen["argv"] + list(seen["env"].values()))
    assert seen["fds"] == [0, 1, 2, 3]  # 3: the probe's own listing of /proc/self/fd
    assert seen["policy"] == os.SCHED_IDLE
    assert seen["core"] == [0, 0]
    pythons_own = (1 << (13 - 1)) | (1 << (25 - 1))  # Python ignores SIGPIPE and SIGXFSZ itself
    # Signals 32 and 33 are glibc's own (thread cancellation, setxid): sigaction
    # refuses them, so neither a login program nor the module can change them,
    # and what the test's own parent set on them (CI's runner ignores 32) is
    # inherited by every program on the machine alike.
    glibcs_own = (1 << (32 - 1)) | (1 << (33 - 1))
    assert int(seen["blocked"], 16) == 0
    assert int(seen["ignored"], 16) & ~(pythons_own | glibcs_own) == 0
    assert seen["sid_is_pid"] and seen["uids"] == [0, 0, 0]
    # python3 -I -S: neither the environment nor a user's site directory reaches it.
    assert seen["isolated"] == 1 and seen["no_site"] == 1
    assert seen["python"] == os.path.realpath("/usr/bin/python3")
    # Its own CPU and I/O class: idle (ioprio_get through /proc is not
    # exposed; ionice reads it while the probe waits).
    ionice = subprocess.run(["ionice", "-p", str(seen["pid"])], capture_output=True, text=True)
    assert ionice.stdout.strip().startswith("idle"), ionice.stdout + ionice.stderr
    go.touch()


def test_a_missing_hook_or_interpreter_never_changes_the_login(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    for broken in ("hook=/nonexistent/hook.py", "python=/nonexistent/python3"):
        service = _service_with(machine, HOOK, broken) if broken.startswith("python") \
            else _service_with(machine, "/nonexistent/hook.py")
        login_ok(machine, service, user)
        wrong = machine.pamtester(service, user, b"wrong")
        assert wrong.returncode != 0 and b"Authentication failure" in wrong.stderr


def test_a_misplaced_module_sees_no_password_and_never_guesses(machine):
    """Before pam_unix the stack holds no password yet: the module neither asks
    for one (pam_exec did, and handed every guess to the hook) nor starts the hook."""
    user = machine.add_user(PASSWORD, MOUNT)
    service = machine.service(misplaced=True)
    for guess in (b"guess one", b"guess two"):
        proc = machine.pamtester(service, user, guess)
        assert proc.returncode != 0
    login_ok(machine, service, user)
    time.sleep(1)  # a hook that did start would have logged by now
    assert machine.log() == "" and machine.spooled(user) == []


def test_a_login_escrows_through_the_profile_line(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    login_ok(machine, machine.service(), user)
    log = machine.wait_for_log(SPOOLED, FAILED)
    assert SPOOLED in log and len(machine.spooled(user)) == 1


def test_a_login_program_with_its_standard_descriptors_closed_still_hands_over_the_password(
        machine, probe):
    """With fd 0 closed in the login program, the pipe's read end is fd 0 and its
    close-on-exec flag stayed set: the hook got no stdin (the review's P2)."""
    import sys

    path, out, go = probe
    user = machine.add_user(b"plain ascii password", MOUNT)
    service = _service_with(machine, path, "out=%s" % out, "go=%s" % go)
    code = ("import os, sys, pam; os.close(0); os.close(2); p = pam.pam(); "
            "sys.exit(0 if p.authenticate(sys.argv[1], 'plain ascii password', "
            "service=sys.argv[2]) else 1)")
    proc = subprocess.run([sys.executable, "-c", code, user, service], capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout
    seen = json.loads(_wait_for_file(out).read_text())
    go.touch()
    assert bytes.fromhex(seen["stdin"]) == b"plain ascii password"
    assert seen["fds"] == [0, 1, 2, 3]
