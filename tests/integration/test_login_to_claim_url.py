"""From a login to a claim URL: the PAM hook spools, zescrowd (as the user) uploads
to the real server, and the next login knows it is done without any derivation."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.common.pam import Machine
from tests.conftest import require
from tests.daemon.conftest import escrow_server  # noqa: F401 — fixture
from tests.server.conftest import key_home, server_pub, tls_dir  # noqa: F401 — fixtures

pytestmark = pytest.mark.root
PASSWORD = b"login to claim"
MOUNT = b"9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"


def test_login_upload_and_the_next_login_does_nothing(escrow_server, server_pub,  # noqa: F811
                                                      real_tools):
    require(os.geteuid() == 0, "real users and /etc/pam.d need root")
    machine = Machine()
    try:
        shutil.copy(server_pub[0], machine.etc / "server-key.asc")
        shutil.copy(escrow_server.ca, machine.etc / "ca.pem")
        for name in ("server-key.asc", "ca.pem"):
            os.chmod(machine.etc / name, 0o644)
        machine.conf.write_text("[server]\nurl = %s\nfingerprint = %s\nkey_file = %s\n"
                                "ca_file = %s\n" % (escrow_server.url, server_pub[1],
                                                    machine.etc / "server-key.asc",
                                                    machine.etc / "ca.pem"))
        user = machine.add_user(PASSWORD, MOUNT)
        service = machine.service()
        assert machine.pamtester(service, user, PASSWORD).returncode == 0
        machine.wait_for_log("sealed and spooled", "not escrowed:")
        env = {"PATH": os.environ["PATH"], "HOME": str(machine.base / user / "home"),
               "ZESCROW_CONF": str(machine.conf), "ZESCROW_STATE_DIR": str(machine.state_dir)}
        zescrowd = os.path.join(os.path.dirname(sys.executable), "zescrowd")
        proc = subprocess.run(["setpriv", "--reuid=" + user, "--regid=" + user,
                               "--init-groups", zescrowd, "--no-notify"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "/claim/" in proc.stderr and machine.spooled(user) == []
        marker = machine.state_dir / user / "escrowed.digest"
        assert marker.stat().st_uid == machine.uid(user)
        assert machine.pamtester(service, user, PASSWORD).returncode == 0
        assert "already escrowed" in machine.wait_for_log("already escrowed")
    finally:
        machine.close()
