"""The PAM hook through real Linux-PAM stacks, with real users, pamtester and python-pam.

Each test gets its own throwaway users, service file and folders
(tests.common.pam.Machine), removed afterwards even on failure.
"""

import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from pam_zescrow import ecryptfs_crypto as crypto
from tests.common.ecryptfs_tools import real_wrap
from tests.common.pam import Machine, python_pam_login
from tests.conftest import require

pytestmark = pytest.mark.root

PASSWORD = b"s3cret \xe9\xff not utf-8"  # pam_unix and eCryptfs take bytes
MOUNT = b"5f8d2a9c0b1e4f3a6d7c8b9a0f1e2d3c"
SPOOLED = "sealed and spooled"
FAILED = "not escrowed:"


@pytest.fixture
def machine(server_key, real_tools):
    require(os.geteuid() == 0, "real users and /etc/pam.d need root")
    for tool in ("pamtester", "useradd", "chpasswd"):
        require(shutil.which(tool), tool + " is not installed")
    m = Machine(server_key)
    yield m
    m.close()


def login_ok(machine, service, user, password=PASSWORD):
    proc = machine.pamtester(service, user, password)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"successfully opened a session" in proc.stdout
    return proc


def test_first_login_escrows_a_sealed_archive(machine, server_key):
    user = machine.add_user(PASSWORD, MOUNT)
    login_ok(machine, machine.service(), user)
    machine.wait_for_log(SPOOLED, FAILED)
    [meta_name] = machine.spooled(user)
    spool = machine.spool(user)
    meta = json.loads((spool / meta_name).read_text())
    assert meta["user"] == user
    assert meta["key_signature"] == crypto.signature(crypto.DEFAULT_SALT, MOUNT)
    sealed_path = spool / meta["archive"]
    for path in (spool / meta_name, sealed_path):  # the user's, private: zescrowd reads them
        st = path.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (_uid(user), 0o600)
    plain = server_key.decrypt(sealed_path.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:gz") as tar:
        assert tar.extractfile(".ecryptfs/unwrapped-passphrase").read() == MOUNT + b"\n"
    state = json.loads((machine.state_dir / user / "state.json").read_text())
    assert state["last_spooled"]["archive"] == meta["archive"]


def test_second_login_does_nothing(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    service = machine.service()
    login_ok(machine, service, user)
    machine.wait_for_log(SPOOLED, FAILED)
    login_ok(machine, service, user)
    machine.wait_for_log("already waiting in the spool")
    assert len(machine.spooled(user)) == 1


def test_changed_mount_passphrase_escrows_again_but_a_new_login_password_does_not(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    service = machine.service()
    login_ok(machine, service, user)
    machine.wait_for_log(SPOOLED, FAILED)
    store = machine.ecryptfs_store(user)
    # A new login password re-wraps the same key: nothing new to escrow.
    new_password = b"another password"
    subprocess.run(["chpasswd"], input=user.encode() + b":" + new_password + b"\n", check=True)
    real_wrap(store / "wrapped-passphrase", MOUNT, new_password)
    _give(store, user)
    login_ok(machine, service, user, new_password)
    machine.wait_for_log("already waiting in the spool")
    # A new MOUNT passphrase (a new Private.sig): escrowed again.
    new_mount = b"00112233445566778899aabbccddeeff"
    real_wrap(store / "wrapped-passphrase", new_mount, new_password)
    (store / "Private.sig").write_text(crypto.signature(crypto.DEFAULT_SALT, new_mount) + "\n")
    _give(store, user)
    login_ok(machine, service, user, new_password)
    _wait_for_count(machine, SPOOLED, 2)
    assert len(machine.spooled(user)) == 2


def test_wrong_password_fails_exactly_as_without_zescrow(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    with_hook = machine.pamtester(machine.service(), user, b"wrong")
    without = machine.pamtester(machine.service(with_hook=False), user, b"wrong")
    assert with_hook.returncode == without.returncode != 0
    assert with_hook.stdout.replace(b"\n", b"") == without.stdout.replace(b"\n", b"")
    assert machine.spooled(user) == [] and machine.log() == ""


def test_user_without_ecryptfs_and_machine_not_enrolled_do_nothing(machine):
    plain_user = machine.add_user(PASSWORD)
    service = machine.service()
    login_ok(machine, service, plain_user)
    assert "no eCryptfs setup" in machine.wait_for_log("no eCryptfs setup")
    machine.conf.unlink()
    user = machine.add_user(PASSWORD, MOUNT)
    login_ok(machine, service, user)
    machine.wait_for_log("machine not enrolled")
    assert machine.spooled(user) == [] and machine.spooled(plain_user) == []


@pytest.mark.parametrize("breakage, reason", [
    ("corrupt", "is not a valid eCryptfs wrapped-passphrase file"),
    ("no-private-sig", "Private.sig is missing or empty"),
    ("key-missing", "the pinned server key"),
    ("spool-unwritable", "cannot write to the spool"),
    ("untrusted", "neither the user nor root"),
    ("link-to-root-only", "cannot read"),
])
def test_broken_setups_never_break_the_login(machine, breakage, reason):
    user = machine.add_user(PASSWORD, MOUNT)
    store = machine.ecryptfs_store(user)
    if breakage == "corrupt":
        (store / "wrapped-passphrase").write_bytes(b"\x3a\x02" + b"\0" * 20)
    elif breakage == "no-private-sig":
        (store / "Private.sig").unlink()
    elif breakage == "key-missing":
        (machine.etc / "server-key.asc").unlink()
    elif breakage == "spool-unwritable":
        user_dir = machine.state_dir / user
        user_dir.mkdir(mode=0o700)
        os.chown(user_dir, _uid(user), _uid(user))
        (user_dir / "spool").mkdir(mode=0o755)  # root's: the user cannot write there
    elif breakage == "untrusted":
        (store / "auto-mount").touch()
        os.chown(store / "auto-mount", 54321, 54321)
    elif breakage == "link-to-root-only":
        # ~/.ecryptfs pointing at a folder only root may read: read as the user, refused.
        secret_dir = machine.base / "root-only"
        shutil.copytree(store, secret_dir)
        os.chmod(secret_dir, 0o700)
        link = machine.base / user / "home" / ".ecryptfs"
        link.unlink()
        os.symlink(secret_dir, link)
    login_ok(machine, machine.service(), user)
    log = machine.wait_for_log(FAILED, SPOOLED)
    assert FAILED in log and reason in log, log
    assert machine.spooled(user) == []


def test_gpg_missing_never_breaks_the_login(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    fake = machine.base / "not-gpg"
    fake.write_text("")  # not executable: as good as absent, in a private mount namespace
    wrap = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /usr/bin/gpg && exec "$@"',
            str(fake)]
    proc = machine.pamtester(machine.service(), user, PASSWORD, wrap=wrap)
    assert proc.returncode == 0, proc.stderr
    log = machine.wait_for_log(FAILED, SPOOLED)
    assert "cannot run gpg" in log, log


def test_a_key_that_is_not_the_pinned_one_is_refused(machine, other_key, server_key):
    machine.enrol(other_key, fingerprint=server_key.fingerprint)
    user = machine.add_user(PASSWORD, MOUNT)
    login_ok(machine, machine.service(), user)
    log = machine.wait_for_log(FAILED, SPOOLED)
    assert "refusing to encrypt to it" in log


def test_a_login_without_a_password_is_never_asked_for_one(machine):
    """pam_exec's expose_authtok prompted "Password: " itself when the stack held
    none (S4: zescrow must never change a login); the profile's module never asks."""
    user = machine.add_user(PASSWORD, MOUNT)
    subprocess.run(["passwd", "--delete", user], check=True, capture_output=True)
    proc = login_ok(machine, machine.service(), user, b"")  # pam_unix nullok lets it in
    assert b"Password" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert machine.log() == "" and machine.spooled(user) == []


def test_the_hook_itself_does_nothing_with_an_empty_password(machine):
    """Under pam_exec, which hands it an empty one."""
    user = machine.add_user(PASSWORD, MOUNT)
    subprocess.run(["passwd", "--delete", user], check=True, capture_output=True)
    login_ok(machine, machine.service(launcher="pam_exec"), user, b"")
    machine.wait_for_log("logged in without a password: nothing to do")
    assert FAILED not in machine.log() and machine.spooled(user) == []


def test_python_pam_in_process_still_works_and_escrows(machine):
    # What pam_python broke: a Python program authenticating through PAM.
    password = "utf-8 pässword"
    user = machine.add_user(password.encode(), MOUNT)
    service = machine.service()
    result = python_pam_login(service, user, password)
    assert result.stdout.strip() == "OK", result.stdout + result.stderr
    machine.wait_for_log(SPOOLED, FAILED)
    assert len(machine.spooled(user)) == 1
    forked = python_pam_login(service, user, "wrong", fork_auth=True)
    assert forked.returncode == 1  # and no crash (a segfault would be -11)


def test_auth_in_a_forked_child(machine):
    password = "forked auth"
    user = machine.add_user(password.encode(), MOUNT)
    result = python_pam_login(machine.service(), user, password, fork_auth=True)
    assert result.stdout.strip() == "OK", result.stdout + result.stderr
    machine.wait_for_log(SPOOLED, FAILED)
    assert len(machine.spooled(user)) == 1


def test_authenticate_and_open_session_in_separate_processes(machine):
    user = machine.add_user(PASSWORD, MOUNT)
    service = machine.service()
    auth = machine.pamtester(service, user, PASSWORD, "authenticate")
    assert auth.returncode == 0
    session = machine.pamtester(service, user, b"", "open_session", "close_session")
    assert session.returncode == 0
    machine.wait_for_log(SPOOLED, FAILED)
    assert len(machine.spooled(user)) == 1


def _give(folder, user):
    """Files the test (root) rewrote go back to the user, as the real tools would leave them."""
    for path in folder.iterdir():
        os.chown(path, _uid(user), _uid(user))


def _uid(user):
    import pwd

    return pwd.getpwnam(user).pw_uid


def _wait_for_count(machine, needle, count, timeout=20):
    import time

    deadline = time.monotonic() + timeout
    while machine.log().count(needle) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert machine.log().count(needle) >= count, machine.log()
