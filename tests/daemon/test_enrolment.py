"""Enrolment (#13): a server with `enrolment = "required"` takes uploads only from
machines its administrator enrolled with a token, vouched for at each login by the
host key; an unenrolled machine, a revoked one, a voucher for another user and the
2012 client are refused with a reason. Real server, real PAM login, real zescrowctl."""

import base64
import json
import os
import re
import stat
import subprocess

import pytest

from tests.common.servers import ZescrowServer, free_port
from tests.daemon.conftest import World
from tests.conftest import require

pytestmark = [pytest.mark.root, pytest.mark.slow]

PASSWORD, MOUNT = b"enrolment test password", b"e7" * 16
SPOOLED, FAILED = "sealed and spooled", "not escrowed:"


@pytest.fixture(scope="module")
def required_server(key_home, tls_dir):  # noqa: F811
    srv = ZescrowServer(free_port(), key_home, tls_dir, rate_limit_per_minute=0,
                        enrolment="required")
    yield srv
    srv.close()


@pytest.fixture
def world(required_server, server_pub, real_tools):
    require(os.geteuid() == 0, "throwaway users need root")
    w = World(required_server, server_pub)
    yield w
    w.close()


def _admin(server, *args):
    return subprocess.run(server.cli() + ["--data", str(server.data), "admin"] + list(args),
                          capture_output=True, text=True, timeout=60)


def _token(server, uses=1):
    r = _admin(server, "enrol-token", "create", "--label", "lab 2", "--uses", str(uses),
               "--expires", "1h")
    assert r.returncode == 0, r.stderr
    return re.search(r"--token (zet_\S+)", r.stdout).group(1)


def _setup(world, *extra):
    return world.run(None, "setup", world.server.url, "--system", "--ca-file", str(world.ca),
                     "--fingerprint", world.fingerprint, *extra)


def _login_and_spool(world, user):
    import time

    before = world.machine.log().count(SPOOLED)
    proc = world.machine.pamtester(world.machine.service(), user, PASSWORD)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 30
    while world.machine.log().count(SPOOLED) == before and FAILED not in world.machine.log():
        assert time.monotonic() < deadline, world.machine.log()
        time.sleep(0.05)
    [meta] = world.machine.spooled(user)
    return json.loads((world.machine.spool(user) / meta).read_text())


def test_an_enrolled_machine_escrows_then_a_revoked_one_is_refused(world, required_server):
    token = _token(required_server)
    r = _setup(world, "--token", token)
    assert r.returncode == 0, r.stdout + r.stderr
    host_id = re.search(r"Enrolled this machine as host ([0-9a-f]{16})", r.stdout).group(1)
    key = world.machine.etc / "host.key"
    st = key.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)  # only root reads it
    assert "[host]\nid = %s" % host_id in world.machine.conf.read_text()
    # A user's login escrows with the host's voucher; the user's upload is accepted.
    user = world.machine.add_user(PASSWORD, MOUNT)
    meta = _login_and_spool(world, user)
    voucher = json.loads(base64.b64decode(meta["voucher"]["statement"]))
    assert voucher["host"] == host_id and voucher["user"] == user
    assert b"PRIVATE" not in json.dumps(meta).encode()
    up = world.run(user, "retry")
    assert up.returncode == 0 and "not claimed yet" in up.stdout, up.stdout + up.stderr
    # The token was for one machine.
    again = _setup(world, "--token", token)
    assert again.returncode == 27 and "used as often" in again.stderr, again.stderr
    # Setup again without a token keeps the enrolment.
    assert _setup(world).returncode == 0
    assert "id = %s" % host_id in world.machine.conf.read_text()
    # Revoked: the next escrow is refused, with the reason.
    assert _admin(required_server, "host", "revoke", host_id).returncode == 0
    listed = _admin(required_server, "host", "list").stdout
    assert host_id in listed and "revoked" in listed
    subprocess.run(["rm", "-rf", str(world.machine.state_dir / user)], check=True)
    _login_and_spool(world, user)
    refused = world.run(user, "retry")
    assert refused.returncode != 0 and "revoked" in refused.stdout + refused.stderr, \
        refused.stdout + refused.stderr


def test_strangers_other_users_and_the_2012_client_are_refused(world, required_server):
    from tests.server.conftest import upload

    # No voucher at all: an unenrolled machine (or anyone on the internet).
    plain = upload(required_server, b"not even sealed")
    assert plain.status_code == 403 and plain.json()["error"] == "not-enrolled", plain.text
    assert "enrolled machines" in plain.json()["message"]
    # A real voucher, used for another user's upload.
    assert _setup(world, "--token", _token(required_server)).returncode == 0
    user = world.machine.add_user(PASSWORD, MOUNT)
    meta = _login_and_spool(world, user)
    sealed = (world.machine.spool(user) / meta["archive"]).read_bytes()
    headers = {"X-Zescrow-Voucher": meta["voucher"]["statement"],
               "X-Zescrow-Voucher-Signature": meta["voucher"]["signature"]}
    other = upload(required_server, sealed, **dict(headers, **{"X-Zescrow-User": "mallory"}))
    assert other.status_code == 403 and "not for the upload's user" in other.text, other.text
    forged = dict(headers, **{"X-Zescrow-Voucher-Signature": base64.b64encode(
        b"\x30" * 70).decode()})
    bad = upload(required_server, sealed, **dict(forged, **{"X-Zescrow-User": user}))
    assert bad.status_code == 403 and "signature" in bad.text, bad.text
    ok = upload(required_server, sealed, **dict(headers, **{"X-Zescrow-User": user}))
    assert ok.status_code == 201, ok.text
    # The 2012 client cannot be enrolled: its deposit is refused with a way forward.
    legacy = required_server.session().post(required_server.url + "/deposit/index.html",
                                            data={"payload": "x"})
    assert legacy.status_code == 403 and "--token" in legacy.text, legacy.text
    # An unknown token enrols nothing, and says so.
    r = _setup(world, "--token", "zet_" + "x" * 32)
    assert r.returncode == 27 and "unknown, revoked or expired" in r.stderr, r.stderr
