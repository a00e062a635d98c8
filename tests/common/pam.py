"""Real PAM for tests: throwaway users, service files, and the hook's stack.

Everything made here has a unique name and is removed afterwards, even
when the test fails: a user (useradd/userdel), a service file in
/etc/pam.d, and a folder under /tmp that holds the user's home, their
eCryptfs key setup, the enrolment, the state folder and the hook's log.
"""

import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.common.ecryptfs_tools import make_setup

ROOT = Path(__file__).resolve().parent.parent.parent
HOOK = ROOT / "pam_zescrow" / "hook.py"
PYTHON = "/usr/bin/python3"
MODULE = ROOT / "build" / "pam" / "pam_zescrow.so"  # make -C pam_zescrow/module
PROFILE = ROOT / "pam_zescrow" / "pam-configs" / "zescrow"
INSTALLED_HOOK = "/usr/lib/python3/dist-packages/pam_zescrow/hook.py"


def profile_auth_line():
    """The profile's Auth line, with this tree's module and hook for the installed ones."""
    text = PROFILE.read_text()
    line = text.split("\nAuth:\n", 1)[1].splitlines()[0].strip()
    if "pam_zescrow.so" in line:
        assert MODULE.exists(), "build the PAM module first: make -C pam_zescrow/module"
        line = line.replace("pam_zescrow.so", "%s hook=%s" % (MODULE, HOOK), 1)
    return line.replace(INSTALLED_HOOK, str(HOOK))


class Machine:
    """A throwaway world for one test: users, a PAM service, an enrolment."""

    def __init__(self, server_key=None):
        self.base = Path(tempfile.mkdtemp(prefix="zescrow-pam-"))
        os.chmod(self.base, 0o755)
        self.etc = self.base / "etc"
        self.etc.mkdir(mode=0o755)
        self.state_dir = self.base / "state"
        self.state_dir.mkdir(mode=0o755)
        self.logfile = self.base / "hook.log"
        self.conf = self.etc / "zescrow.conf"
        self.users = []
        self.services = []
        self.server_key = server_key
        if server_key is not None:
            self.enrol(server_key)

    # --- enrolment -------------------------------------------------------
    def enrol(self, key, fingerprint=None, key_file=None):
        shutil.copy(key.public_path, self.etc / "server-key.asc")
        os.chmod(self.etc / "server-key.asc", 0o644)
        self.conf.write_text("[server]\nurl = https://escrow.zescrow.test\n"
                             "fingerprint = %s\nkey_file = %s\n" % (
                                 fingerprint or key.fingerprint,
                                 key_file or self.etc / "server-key.asc"))
        os.chmod(self.conf, 0o644)

    # --- users -----------------------------------------------------------
    def add_user(self, password, mount=None, shell="/usr/sbin/nologin", name=None):
        """A real user with `password` (bytes) and, with `mount`, an eCryptfs setup."""
        name = name or "zt" + secrets.token_hex(5)
        home_base = self.base / name
        home_base.mkdir(mode=0o755)
        # A uid new since boot, as a new user's is: pam_ecryptfs behaves
        # differently for it (see fresh_uid), and a reused uid hides that.
        subprocess.run(["useradd", "--no-create-home", "--home-dir",
                        str(home_base / "home"), "--shell", shell,
                        "--uid", str(fresh_uid()), name],
                       check=True, capture_output=True)
        self.users.append(name)
        subprocess.run(["chpasswd"], input=name.encode() + b":" + password + b"\n",
                       check=True, capture_output=True)
        if mount is not None:
            make_setup(home_base, mount, password)
        else:
            (home_base / "home").mkdir()
        subprocess.run(["chown", "-R", "%s:%s" % (name, name), str(home_base)], check=True)
        return name

    @staticmethod
    def uid(user):
        import pwd

        return pwd.getpwnam(user).pw_uid

    def ecryptfs_store(self, user):
        return self.base / user / "ecryptfs-store" / ".ecryptfs"

    # --- PAM ---------------------------------------------------------------
    def service(self, hook_args=(), with_hook=True, flags="-I -S", debug=True, misplaced=False,
                launcher="profile"):
        """A service file shaped like Debian's common-auth, the hook in Additional.

        launcher: "profile", the Auth line that pam-auth-update installs
        (pam_zescrow/pam-configs/zescrow), pointed at this tree's module and
        hook; or "pam_exec", the hook run by `pam_exec.so expose_authtok` as
        an admin may write it by hand (`flags` are the interpreter's then).
        misplaced: the hook before pam_unix, as an admin might put it by hand:
        it then runs for every password typed, right or wrong."""
        name = "zescrow-test-" + secrets.token_hex(4)
        lines = ["auth\t[success=1 default=ignore]\tpam_unix.so nullok",
                 "auth\trequisite\tpam_deny.so",
                 "auth\trequired\tpam_permit.so"]
        if with_hook:
            args = ["conf=%s" % self.conf, "state_dir=%s" % self.state_dir,
                    "logfile=%s" % self.logfile] + (["debug"] if debug else []) + list(hook_args)
            if launcher == "profile":
                hook = "auth\t%s %s" % (profile_auth_line(), " ".join(args))
            else:
                hook = ("auth\toptional\tpam_exec.so expose_authtok seteuid quiet %s %s %s %s"
                        % (PYTHON, flags, HOOK, " ".join(args)))
            if misplaced:
                lines.insert(0, hook)
            else:
                lines.append(hook)
        lines += ["account\trequired\tpam_permit.so", "session\trequired\tpam_permit.so"]
        path = Path("/etc/pam.d") / name
        path.write_text("\n".join(lines) + "\n")
        self.services.append(path)
        return name

    def pamtester(self, service, user, password, *ops, wrap=()):
        ops = ops or ("authenticate", "open_session", "close_session")
        return run_until_exit(list(wrap) + ["pamtester", "-v", service, user] + list(ops),
                              input=password + b"\n")

    # --- what the hook left ------------------------------------------------
    def spool(self, user):
        return self.state_dir / user / "spool"

    def spooled(self, user):
        folder = self.spool(user)
        return sorted(p.name for p in folder.iterdir() if p.suffix == ".json") \
            if folder.is_dir() else []

    def log(self):
        return self.logfile.read_text() if self.logfile.exists() else ""

    def wait_for_log(self, *needles, timeout=20):
        """Wait until the detached child wrote a line with one of `needles`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            if any(n in text for n in needles):
                return text
            time.sleep(0.05)
        raise AssertionError("no %r in the hook's log after %d s:\n%s" % (needles, timeout,
                                                                           self.log()))

    def close(self):
        for path in self.services:
            path.unlink(missing_ok=True)
        for user in self.users:
            kill_processes_of(user)
            subprocess.run(["userdel", user], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def uids_with_keys():
    """The uids the kernel keeps key accounting for: every uid that had a key
    (a user keyring included) since boot. Entries outlive the user."""
    with open("/proc/key-users") as f:
        return {int(line.split(":")[0]) for line in f if ":" in line}


def fresh_uid(low=20000, high=59999):
    """A uid that no account has and that has had no key since boot.

    The first time since boot that pam_ecryptfs adds a key for a uid, it forks
    a "session placeholder" that sleeps 300 s holding the caller's stdout and
    stderr; later logins of that uid skip it. Throwaway users get recycled
    uids by default, so a machine that already ran the suite never shows what
    a new user's first login does. Every throwaway user gets a fresh uid.
    """
    import pwd

    taken = uids_with_keys()
    for _ in range(1000):
        uid = random.randint(low, high)
        if uid in taken:
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise AssertionError("no uid in %d..%d is fresh since boot" % (low, high))


def kill_processes_of(user, timeout=10):
    """SIGKILL every process running as `user` (e.g. pam_ecryptfs's placeholder)
    and wait until they are gone: userdel refuses a user with processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        if subprocess.run(["pgrep", "-u", user], capture_output=True).returncode != 0:
            return
        time.sleep(0.05)


def run_until_exit(argv, input=b"", timeout=60, **kwargs):
    """Run `argv` and wait for its exit status, never for EOF on its output.

    A process it starts may keep our stdout and stderr open long after it
    exits (pam_ecryptfs's session placeholder sleeps 300 s with them), so the
    output goes to files, read once the process itself has ended. On timeout
    the process group is killed and the error shows what was running.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                start_new_session=True, **kwargs)
        try:
            proc.stdin.write(input)
            proc.stdin.close()
        except BrokenPipeError:  # it exited without reading: its status says why
            pass
        # A blocking wait with a watchdog, not wait(timeout=): that one polls with
        # sleeps of up to 50 ms, which would blur every timing bench/login takes.
        expired = []

        def watchdog():
            expired.append(subprocess.run(
                ["ps", "-eo", "pid,ppid,pgid,user,stat,wchan:20,args", "--forest"],
                capture_output=True, text=True).stdout)
            os.killpg(proc.pid, 9)

        timer = threading.Timer(timeout, watchdog)
        timer.start()
        try:
            returncode = proc.wait()
        finally:
            timer.cancel()
        if expired:
            raise AssertionError("%s did not exit in %d s; processes:\n%s"
                                 % (argv[:3], timeout, expired[0][-5000:]))
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, returncode, out.read(), err.read())


def python_pam_login(service, user, password, fork_auth=False):
    """Log in in-process with python-pam, in a subprocess of the test.

    fork_auth: authenticate in a forked child and wait for it (sshd's
    keyboard-interactive does its PAM conversation in a child).
    """
    code = r'''
import os, sys, pam
service, user, password, fork_auth = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
p = pam.pam()
if fork_auth:
    pid = os.fork()
    if pid == 0:
        os._exit(0 if p.authenticate(user, password, service=service) else 1)
    _, status = os.waitpid(pid, 0)
    ok = os.waitstatus_to_exitcode(status) == 0
else:
    ok = p.authenticate(user, password, service=service, call_end=False)
    ok = ok and p.open_session() == 0 and p.close_session() == 0
print("OK" if ok else "FAIL %s %s" % (p.code, p.reason))
sys.exit(0 if ok else 1)
'''
    return subprocess.run([sys.executable, "-c", code, service, user, password,
                           "1" if fork_auth else "0"], capture_output=True, text=True,
                          timeout=60)




def system_stack_login(machine, user, password, service="login", ops=("authenticate",)):
    """Log in through the machine's own PAM configuration with zescrow's profile
    enabled by the real pam-auth-update — in a private mount namespace, over
    copies of /etc/pam.d, /var/lib/pam and /usr/share/pam-configs, so the real
    ones are never touched. The shipped profile is pointed at this tree's hook
    and at `machine`'s enrolment. Returns the CompletedProcess of the namespace
    (its stdout starts with the resulting common-auth)."""
    work = tempfile.mkdtemp(prefix="zescrow-pamcfg-")
    try:
        for src, name in (("/etc/pam.d", "pam.d"), ("/var/lib/pam", "varlibpam"),
                          ("/usr/share/pam-configs", "pam-configs")):
            shutil.copytree(src, os.path.join(work, name), symlinks=True)
        profile = PROFILE.read_text().replace(
            "pam_zescrow.so", "%s hook=%s conf=%s state_dir=%s logfile=%s debug" % (
                MODULE, HOOK, machine.conf, machine.state_dir, machine.logfile))
        assert MODULE.exists(), "build the PAM module first: make -C pam_zescrow/module"
        with open(os.path.join(work, "pam-configs", "zescrow"), "w") as f:
            f.write(profile)
        script = "\n".join([
            "set -e",
            "mount --bind %s/pam.d /etc/pam.d" % work,
            "mount --bind %s/varlibpam /var/lib/pam" % work,
            "mount --bind %s/pam-configs /usr/share/pam-configs" % work,
            "DEBIAN_FRONTEND=noninteractive pam-auth-update --package --enable zescrow "
            "</dev/null",
            "cat /etc/pam.d/common-auth",
            "pamtester %s %s %s" % (service, user, " ".join(ops))])
        # pam_ecryptfs may leave a placeholder holding this output: wait for the exit.
        return run_until_exit(["unshare", "-m", "sh", "-c", script], input=password + b"\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
