"""The pam-auth-update profile, applied by the real pam-auth-update, and a login
through the resulting common-auth — all inside a private mount namespace, so
the machine's own /etc/pam.d is never touched.
"""

import shutil

import pytest

from tests.common.pam import HOOK, MODULE, system_stack_login
from tests.conftest import require
from tests.integration.test_pam_hook import FAILED, MOUNT, PASSWORD, SPOOLED, machine  # noqa: F401

pytestmark = pytest.mark.root


def test_profile_puts_the_hook_last_in_auth_and_a_login_escrows(machine):
    require(shutil.which("pam-auth-update"), "pam-auth-update (libpam-runtime) is missing")
    user = machine.add_user(PASSWORD, MOUNT)
    proc = system_stack_login(machine, user, PASSWORD, service="login",
                              ops=("authenticate",))
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out + proc.stderr.decode("utf-8", "replace")
    auth = [line for line in out.splitlines() if line.startswith("auth")]
    ours = [i for i, line in enumerate(auth) if str(HOOK) in line]
    assert len(ours) == 1 and auth[ours[0]].split()[1:3] == ["optional", str(MODULE)]
    for module in ("pam_unix.so", "pam_ecryptfs.so"):
        at = [i for i, line in enumerate(auth) if module in line]
        assert all(i < ours[0] for i in at), (module, auth)
    machine.wait_for_log(SPOOLED, FAILED)
    assert len(machine.spooled(user)) == 1, machine.log()
    # And the real configuration was never touched.
    assert str(HOOK) not in open("/etc/pam.d/common-auth").read()


def test_a_uids_first_login_since_boot_returns_despite_pam_ecryptfs_placeholder(machine):
    """Regression (issue #9): pam_ecryptfs forks a placeholder that sleeps 300 s
    holding the caller's output the first time since boot it adds a key for a
    uid. The login must still return at once — the helpers wait for the exit,
    not for EOF — and the hook must still escrow."""
    import subprocess

    from tests.common.pam import MODULE, uids_with_keys

    require(shutil.which("pam-auth-update"), "pam-auth-update (libpam-runtime) is missing")
    user = machine.add_user(PASSWORD, MOUNT)
    uid = machine.uid(user)
    assert uid not in uids_with_keys(), "the machine must offer a uid new since boot"
    proc = system_stack_login(machine, user, PASSWORD, service="login", ops=("authenticate",))
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    # The condition was really exercised: the kernel now has keys for the uid,
    # and pam_ecryptfs's placeholder is running as the user.
    assert uid in uids_with_keys()
    placeholder = subprocess.run(["pgrep", "-u", user], capture_output=True, text=True)
    assert placeholder.stdout.split(), "no placeholder: pam_ecryptfs did not see a new uid"
    machine.wait_for_log(SPOOLED, FAILED)
    assert len(machine.spooled(user)) == 1, machine.log()
