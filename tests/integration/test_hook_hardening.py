"""Client hardening of the PAM hook (issue #10), each finding through a real
Linux-PAM stack with a real user: a hung gpg, guesses of a misplaced hook,
core dumps, forged log lines, weak passwords in the log, and files that are
not what they seem. Every one leaves the login untouched.
"""

import os
import re
import subprocess
import time

import pytest

from tests.integration.test_pam_hook import (FAILED, MOUNT, PASSWORD, SPOOLED, login_ok,  # noqa: F401
                                             machine)

pytestmark = pytest.mark.root


def _wait_for(check, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def _processes_of(user):
    out = subprocess.run(["pgrep", "-u", user], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def _hung_gpg(machine):
    hung = machine.base / "hung-gpg"
    hung.write_text("#!/bin/sh\nsleep 1000\n")
    os.chmod(hung, 0o755)
    return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /usr/bin/gpg && exec "$@"',
            str(hung)]


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:  # gone meanwhile
        return b""


def _memory_holds(pid, needle):
    """Whether the process's writable memory holds `needle` (root reads any)."""
    found = False
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb") as mem:
        for line in maps:
            fields = line.split()
            if "rw" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                found = found or needle in mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
    return found


def test_a_hung_gpg_is_killed_with_its_group_at_the_budget_and_named(machine):
    """gpg that never answers: the child ends at its budget as a named outcome,
    killing gpg too; while it waits, no core dump could hold the secret, and
    the login password is already wiped (only the MOUNT passphrase is sealed)."""
    user = machine.add_user(PASSWORD, MOUNT)
    proc = machine.pamtester(machine.service(hook_args=["budget=4"]), user, PASSWORD,
                             wrap=_hung_gpg(machine))
    assert proc.returncode == 0, proc.stderr
    # While gpg hangs: the user's processes (the escrow and gpg) dump no core,
    # and the escrow's process is not dumpable (its /proc entries are root's).
    def gpg_started():
        pids = _processes_of(user)
        return any(b"sleep" in _cmdline(pid) for pid in pids) and pids

    pids = _wait_for(gpg_started, "the escrow to start (the hung) gpg")
    for pid in pids:
        limits = open("/proc/%d/limits" % pid).read()
        assert re.search(r"Max core file size\s+0\s+0\s", limits), limits
    pythons = [pid for pid in pids if "python" in open("/proc/%d/cmdline" % pid).read()]
    assert pythons and all(os.stat("/proc/%d/mem" % pid).st_uid == 0 for pid in pythons)
    holding = [(pid, open("/proc/%d/status" % pid).read().split("PPid:")[1].split()[0])
               for pid in pythons if _memory_holds(pid, PASSWORD)]
    assert holding == [], (holding, pythons)
    log = machine.wait_for_log(FAILED, SPOOLED, timeout=30)
    assert "[budget-expired]" in log and "unexpected" not in log, log
    _wait_for(lambda: not _processes_of(user), "gpg to be killed with the escrow", 10)
    state = (machine.state_dir / user / "state.json").read_text()
    assert "budget-expired" in state


def test_the_budget_holds_when_the_login_program_blocks_sigalrm_and_ignores_sigchld(machine):
    """pam_exec hands its caller's signal mask and ignored signals down the exec."""
    user = machine.add_user(PASSWORD, MOUNT)
    careless = ["/usr/bin/python3", "-c", "import os, signal, sys; "
                "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM]); "
                "signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execvp(sys.argv[1], "
                "sys.argv[1:])"]
    proc = machine.pamtester(machine.service(hook_args=["budget=3"]), user, PASSWORD,
                             wrap=_hung_gpg(machine) + careless)
    assert proc.returncode == 0, proc.stderr
    log = machine.wait_for_log(FAILED, SPOOLED, timeout=30)
    assert "[budget-expired]" in log and "unexpected" not in log, log
    _wait_for(lambda: not _processes_of(user), "gpg to be killed with the escrow", 10)


def test_a_missing_state_folder_is_made_reachable_for_users(machine):
    """The detached child's umask is 077; the folder it makes must still be 0755."""
    user = machine.add_user(PASSWORD, MOUNT)
    state = machine.base / "fresh" / "state"
    login_ok(machine, machine.service(hook_args=["state_dir=%s" % state]), user)
    log = machine.wait_for_log(FAILED, SPOOLED)
    assert SPOOLED in log, log
    assert oct(state.stat().st_mode & 0o777) == "0o755"


def test_a_misplaced_hook_backs_off_after_a_wrong_password(machine):
    """Before pam_unix, the hook sees every guess: one key derivation, then no
    more for that user for a while."""
    user = machine.add_user(PASSWORD, MOUNT)
    service = machine.service(misplaced=True, launcher="pam_exec")
    machine.pamtester(service, user, b"guess one")
    log = machine.wait_for_log("[wrong-password]")
    assert log.count("[wrong-password]") == 1
    for guess in (b"guess two", b"guess three"):
        machine.pamtester(service, user, guess)
    log = machine.wait_for_log("backing off")
    time.sleep(1)  # a derivation that did start would have logged by now
    log = machine.log()
    assert log.count("[wrong-password]") == 1, log
    assert log.count("backing off") == 2, log


def test_a_file_name_cannot_forge_a_log_line(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    forged = "x\n2026-12-02T00:00:00 zescrow[1] info: user root: sealed and spooled FORGED"
    os.mkfifo(machine.ecryptfs_store(user) / forged)
    os.chown(machine.ecryptfs_store(user) / forged, machine.uid(user), machine.uid(user))
    login_ok(machine, machine.service(), user)
    log = machine.wait_for_log(FAILED, SPOOLED)
    assert "FORGED" in log and "[unsafe-ecryptfs-entry]" in log, log
    assert not any(line.startswith("2026-12-02T00:00:00") for line in log.splitlines()), log
    assert "x\\n2026" in log


def test_a_password_equal_to_the_user_name_is_not_revealed_by_redaction(machine):
    """Redacting secrets after the fact turned every mention of the user name
    into [REDACTED] — telling the reader of auth.log the password. Nothing is
    substituted: no line is built from a secret in the first place."""
    name = "zt" + os.urandom(5).hex()
    user = machine.add_user(name.encode(), MOUNT, name=name)
    login_ok(machine, machine.service(), user, name.encode())
    log = machine.wait_for_log(FAILED, SPOOLED)
    assert SPOOLED in log and "REDACTED" not in log, log
    assert "user %s:" % name in log


def _fifo(path, user_uid):
    os.mkfifo(path)
    os.chown(path, user_uid, user_uid)


@pytest.mark.parametrize("thing, code", [
    ("digest-fifo", "unsafe-state-file"),
    ("lock-folder", "unsafe-state-file"),
    ("lock-link", "unsafe-state-file"),
    ("config-folder", "config-invalid"),
    ("ecryptfs-into-proc", "unsafe-ecryptfs-entry"),
    ("ecryptfs-via-a-link-into-proc", "unsafe-ecryptfs-entry"),
])
def test_files_that_are_not_what_they_seem_are_named_refusals(machine, thing, code):
    user = machine.add_user(PASSWORD, MOUNT)
    uid = machine.uid(user)
    user_dir = machine.state_dir / user
    user_dir.mkdir(mode=0o700)
    os.chown(user_dir, uid, uid)
    if thing == "digest-fifo":
        _fifo(user_dir / "escrowed.digest", uid)
    elif thing == "lock-folder":
        (user_dir / ".lock").mkdir()
        os.chown(user_dir / ".lock", uid, uid)
    elif thing == "lock-link":
        os.symlink("/etc/passwd", user_dir / ".lock")
        os.lchown(user_dir / ".lock", uid, uid)
    elif thing == "config-folder":
        machine.conf.unlink()
        machine.conf.mkdir()
    elif thing == "ecryptfs-into-proc":
        link = machine.base / user / "home" / ".ecryptfs"
        link.unlink()
        os.symlink("/proc", link)
        os.lchown(link, uid, uid)
    elif thing == "ecryptfs-via-a-link-into-proc":
        home = machine.base / user / "home"
        os.symlink("/proc", home / "p")
        os.lchown(home / "p", uid, uid)
        (home / ".ecryptfs").unlink()
        os.symlink(home / "p" / "self" / "fdinfo", home / ".ecryptfs")
        os.lchown(home / ".ecryptfs", uid, uid)
    login_ok(machine, machine.service(), user)
    log = machine.wait_for_log(FAILED, SPOOLED)
    # "budget": the hook's 2 s alarm, which a read waiting on a fifo would hit.
    assert "[%s]" % code in log and "unexpected" not in log and "budget" not in log, log
