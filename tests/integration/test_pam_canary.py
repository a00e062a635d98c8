"""S1/S2 at login: after a real login escrows, neither the LOGIN password nor the
MOUNT passphrase is anywhere it could leak from.

Searched: the spool, the state folder and the hook's log (every file the
module wrote), /tmp, /run, /dev/shm (where gpg homes live), /var/log, and
every process's cmdline and environ. The control at the end shows the
sealed archive does carry the passphrase, to the server key only.
"""

import base64
import io
import os
import secrets
import subprocess
import tarfile
import time

import pytest

from tests.integration.test_pam_hook import SPOOLED, FAILED, login_ok, machine  # noqa: F401

pytestmark = pytest.mark.root

MAX_FILE = 4 * 1024 * 1024
PLACES = ["/tmp", "/run", "/dev/shm", "/var/log"]


def _forms(secret):
    return {secret, secret.hex().encode(), base64.b64encode(secret)}


def _sweep_files(roots, forms):
    hits = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
            for name in files:
                path = os.path.join(folder, name)
                try:
                    if not os.path.isfile(path) or os.path.getsize(path) > MAX_FILE:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                hits += [path for form in forms if form in data]
    return hits


def _sweep_processes(forms):
    hits = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            hits += ["/proc/%s/%s" % (pid, what) for form in forms if form in data]
    return hits


def _wait_until_gone(user, timeout=20):
    deadline = time.monotonic() + timeout
    while subprocess.run(["pgrep", "-u", user], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the escrow of %s did not end" % user
        time.sleep(0.05)


def test_canary_secrets_are_nowhere_after_a_login(machine, server_key):
    password = b"canary-login-" + secrets.token_hex(8).encode()
    mount = secrets.token_hex(16).encode()
    user = machine.add_user(password, mount)
    homes_before = {d for d in os.listdir("/dev/shm") if d.startswith("zs-")}
    login_ok(machine, machine.service(), user, password)
    machine.wait_for_log(SPOOLED, FAILED)
    _wait_until_gone(user)  # the escrow's supervisor removes its gpg home last
    forms = _forms(password) | _forms(mount)

    wrote = [str(machine.state_dir), str(machine.logfile)]
    assert _sweep_files(wrote + PLACES, forms) == []
    assert _sweep_processes(forms) == []
    homes = {d for d in os.listdir("/dev/shm") if d.startswith("zs-")}
    assert homes - homes_before == set()  # the escrow's gpg homes are gone

    # The control: the search looks at the right bytes.
    [meta] = machine.spooled(user)
    sealed = (machine.spool(user) / meta.replace(".json", ".gpg")).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(server_key.decrypt(sealed)), mode="r:gz") as tar:
        assert tar.extractfile(".ecryptfs/unwrapped-passphrase").read() == mount + b"\n"
