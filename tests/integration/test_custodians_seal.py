"""Custodians mode at login (#12): the hook seals to exactly the pinned
custodians — any two of three open the spooled escrow, the server's key
opens nothing, and a key file that no longer holds a pinned custodian is
refused rather than followed."""

import base64
import io
import json
import os
import tarfile
import time

import pytest

from tests.common.gpgkeys import make_server_key
from tests.integration.test_pam_hook import FAILED, MOUNT, PASSWORD, SPOOLED, login_ok, machine  # noqa: F401
from zescrow_core import custodians as cust

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def custodian_keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("custodian-keys")
    keys = [make_server_key(str(folder), "custodian %s" % name) for name in "abc"]
    yield keys
    for key in keys:
        key.close()


def _enrol_custodians(machine, server_key, keys, pinned, threshold=2):
    machine.enrol(server_key)
    keys_file = machine.etc / "custodians.asc"
    keys_file.write_bytes(b"".join(open(k.public_path, "rb").read() for k in keys))
    os.chmod(keys_file, 0o644)
    with open(machine.conf, "a") as f:
        f.write("recovery = custodians\nthreshold = %d\ncustodians = %s\ncustodians_file = %s\n"
                % (threshold, ", ".join(pinned), keys_file))


def _spooled_container(machine, user):
    [meta_name] = machine.spooled(user)
    meta = json.loads((machine.spool(user) / meta_name).read_text())
    return meta, (machine.spool(user) / meta["archive"]).read_bytes()


def _share(container, key):
    doc = json.loads(container)
    [sealed] = [s for s in doc["shares"] if s["custodian"] == key.fingerprint]
    return cust.open_share(key.decrypt(base64.b64decode(sealed["sealed"])))


def test_a_login_seals_to_the_pinned_custodians_and_two_open_it(machine, server_key,
                                                                 custodian_keys):
    pinned = [k.fingerprint for k in custodian_keys]
    _enrol_custodians(machine, server_key, custodian_keys, pinned)
    user = machine.add_user(PASSWORD, MOUNT)
    login_ok(machine, machine.service(), user)
    log = machine.wait_for_log(SPOOLED, FAILED)
    assert SPOOLED in log, log
    meta, container = _spooled_container(machine, user)
    assert meta["recovery"] == "custodians" and meta["custodians"] == pinned
    assert meta["threshold"] == 2
    archive = cust.combine(container, [_share(container, custodian_keys[0]),
                                       _share(container, custodian_keys[2])])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.extractfile(".ecryptfs/unwrapped-passphrase").read() == MOUNT + b"\n"
    # The escrow server's own key opens no share.
    for share in json.loads(container)["shares"]:
        assert server_key.gpg("--decrypt", input=base64.b64decode(share["sealed"])).stdout == b""


def test_a_keys_file_without_a_pinned_custodian_is_refused(machine, server_key,
                                                          custodian_keys):
    """The file was replaced (say, by what a server published later): the hook
    seals to the pin or to nothing."""
    pinned = [k.fingerprint for k in custodian_keys]
    _enrol_custodians(machine, server_key, custodian_keys[:2], pinned)  # c is missing
    user = machine.add_user(PASSWORD, MOUNT)
    login_ok(machine, machine.service(), user)
    log = machine.wait_for_log(SPOOLED, FAILED)
    assert "[custodian-key-mismatch]" in log, log
    assert custodian_keys[2].fingerprint in log
    assert machine.spooled(user) == []


def _acknowledge(machine, user):
    """What zescrowd writes on the server's ack: the digest the hook compares with."""
    meta, _ = _spooled_container(machine, user)
    marker = machine.state_dir / user / "escrowed.digest"
    marker.write_text(meta["setup_digest"] + "\n")
    for path in machine.spool(user).iterdir():
        path.unlink()


def test_pinning_new_custodians_escrows_again_at_the_next_login(machine, server_key,
                                                               custodian_keys):
    """A custodian leaves: setup pins the new set, and the next login re-escrows."""
    machine.enrol(server_key)
    user = machine.add_user(PASSWORD, MOUNT)
    service = machine.service()
    login_ok(machine, service, user)
    machine.wait_for_log(SPOOLED, FAILED)
    _acknowledge(machine, user)
    login_ok(machine, service, user)
    machine.wait_for_log("already escrowed")
    assert machine.spooled(user) == []
    _enrol_custodians(machine, server_key, custodian_keys,
                      [k.fingerprint for k in custodian_keys])
    login_ok(machine, service, user)
    machine.wait_for_log("what it is sealed to, changed")
    deadline = time.monotonic() + 20
    while not machine.spooled(user) and time.monotonic() < deadline:
        time.sleep(0.05)
    meta, _ = _spooled_container(machine, user)
    assert meta["recovery"] == "custodians"
