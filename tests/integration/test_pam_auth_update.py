"""The pam-auth-update profile, applied by the real pam-auth-update, and a login
through the resulting common-auth — all inside a private mount namespace, so
the machine's own /etc/pam.d is never touched.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.common.pam import HOOK, PYTHON
from tests.conftest import ROOT, require
from tests.integration.test_pam_hook import FAILED, MOUNT, PASSWORD, SPOOLED, machine  # noqa: F401

pytestmark = pytest.mark.root
PROFILE = ROOT / "pam_zescrow" / "pam-configs" / "zescrow"
SHIPPED_HOOK = "/usr/lib/python3/dist-packages/pam_zescrow/hook.py"


def _namespace_script(work, machine, then):
    """Bind copies of the PAM configuration over the real ones, enable zescrow, run `then`."""
    return "\n".join([
        "set -e",
        "mount --bind %s/pam.d /etc/pam.d" % work,
        "mount --bind %s/varlibpam /var/lib/pam" % work,
        "mount --bind %s/pam-configs /usr/share/pam-configs" % work,
        "DEBIAN_FRONTEND=noninteractive pam-auth-update --package --enable zescrow </dev/null",
        then,
    ])


def test_profile_puts_the_hook_last_in_auth_and_a_login_escrows(machine):
    require(shutil.which("pam-auth-update"), "pam-auth-update (libpam-runtime) is missing")
    work = tempfile.mkdtemp(prefix="zescrow-pamcfg-")
    try:
        shutil.copytree("/etc/pam.d", work + "/pam.d", symlinks=True)
        shutil.copytree("/var/lib/pam", work + "/varlibpam", symlinks=True)
        shutil.copytree("/usr/share/pam-configs", work + "/pam-configs", symlinks=True)
        # The shipped profile, pointed at this tree and this test's enrolment.
        text = PROFILE.read_text().replace(
            "-I -S %s" % SHIPPED_HOOK, "-I -S %s conf=%s state_dir=%s logfile=%s debug" % (
                HOOK, machine.conf, machine.state_dir, machine.logfile))
        assert str(HOOK) in text
        (open(work + "/pam-configs/zescrow", "w")).write(text)
        service = "zescrow-common-" + os.path.basename(work)[-8:]
        with open(work + "/pam.d/" + service, "w") as f:
            f.write("@include common-auth\n@include common-account\n"
                    "session required pam_permit.so\n")
        user = machine.add_user(PASSWORD, MOUNT)
        script = _namespace_script(work, machine, "cat /etc/pam.d/common-auth; "
                                   "pamtester %s %s authenticate open_session close_session"
                                   % (service, user))
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                              input=PASSWORD + b"\n", timeout=60)
        out = proc.stdout.decode("utf-8", "replace")
        assert proc.returncode == 0, out + proc.stderr.decode("utf-8", "replace")
        auth = [line for line in out.splitlines() if line.startswith("auth")]
        ours = [i for i, line in enumerate(auth) if str(HOOK) in line]
        assert len(ours) == 1 and "optional" in auth[ours[0]] and "expose_authtok" in auth[ours[0]]
        for module in ("pam_unix.so", "pam_ecryptfs.so"):
            at = [i for i, line in enumerate(auth) if module in line]
            assert all(i < ours[0] for i in at), (module, auth)
        machine.wait_for_log(SPOOLED, FAILED)
        assert len(machine.spooled(user)) == 1, machine.log()
        # And the real configuration was never touched.
        assert str(HOOK) not in open("/etc/pam.d/common-auth").read()
    finally:
        shutil.rmtree(work, ignore_errors=True)
