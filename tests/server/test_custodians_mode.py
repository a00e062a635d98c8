"""Custodians mode on the real server (#12): init takes the custodians, the
server publishes its mode and them, zescrowctl setup shows and pins them,
an upload is checked against what is published, the 2012 deposit refuses,
and nothing in the server's data folder opens an escrow."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pam_zescrow import pipeline, seal
from tests.common.ecryptfs_tools import make_setup
from tests.common.gpgkeys import make_server_key
from tests.common.servers import ZescrowServer, free_port
from tests.server.conftest import BACKENDS, _debian_stack, key_home, tls_dir  # noqa: F401
from tests.conftest import require
from zescrow_core import custodians as cust

MOUNT, LOGIN = b"c0ffee" * 5 + b"c0", b"custodian test login"
TYPE = "application/vnd.zescrow.custodians+json"


@pytest.fixture(scope="module")
def custodian_keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("custodians")
    keys = [make_server_key(str(folder), "custodian %s" % name) for name in "abc"]
    combined = folder / "custodians.asc"
    combined.write_bytes(b"".join(open(k.public_path, "rb").read() for k in keys))
    yield keys, combined
    for key in keys:
        key.close()


@pytest.fixture(scope="module", params=["sqlite", "debian-sqlite"])
def blind(request, key_home, tls_dir, custodian_keys):  # noqa: F811
    if request.param.startswith("debian"):
        require(_debian_stack(), "Debian's python3-fastapi/-sqlalchemy/... are not installed")
    keys, combined = custodian_keys
    srv = ZescrowServer(free_port(), key_home, tls_dir, rate_limit_per_minute=0,
                        stack="debian" if request.param.startswith("debian") else "venv",
                        init_args=["--custodians", str(combined), "--threshold", "2"])
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def container(custodian_keys, tmp_path_factory):
    """What the hook spools in custodians mode, from the real client pipeline."""
    keys, combined = custodian_keys
    folder = tmp_path_factory.mktemp("client")
    prepared = pipeline.prepare(str(make_setup(folder, MOUNT, LOGIN)), LOGIN)
    return seal.seal_to_custodians(prepared.archive.data, str(combined),
                                   [k.fingerprint for k in keys], 2, {"user": "alice", "host": "testbox"})


def test_init_and_the_server_publish_the_mode_and_the_custodians(blind, custodian_keys):
    keys, _ = custodian_keys
    assert "recovery: custodians" in blind.init.stdout
    info = blind.session().get(blind.url + "/.well-known/zescrow.json").json()
    assert info["recovery"] == "custodians" and info["threshold"] == 2
    assert [c["fingerprint"] for c in info["custodians"]] == [k.fingerprint for k in keys]
    assert info["custodians"][0]["name"].startswith("custodian a")
    armored = blind.session().get(blind.url + "/custodians.asc")
    assert armored.ok and b"BEGIN PGP PUBLIC KEY BLOCK" in armored.content


def test_setup_shows_and_pins_the_custodians(blind, custodian_keys, tmp_path):
    keys, _ = custodian_keys
    conf = tmp_path / "etc" / "zescrow.conf"
    env = dict(os.environ, ZESCROW_CONF=str(conf), ZESCROW_STATE_DIR=str(tmp_path / "state"),
               HOME=str(tmp_path))
    fpr = blind.session().get(blind.url + "/gpg.fingerprint").text.strip()
    zescrowctl = [os.path.join(os.path.dirname(sys.executable), "zescrowctl")]
    wrong = subprocess.run(zescrowctl + ["setup", blind.url, "--system", "--ca-file", blind.ca,
                                         "--fingerprint", fpr, "--custodians",
                                         keys[0].fingerprint], env=env, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)
    assert wrong.returncode == 76 and "custodians" in wrong.stderr and not conf.exists()
    unasked = subprocess.run(zescrowctl + ["setup", blind.url, "--system", "--ca-file", blind.ca,
                                           "--fingerprint", fpr], env=env, capture_output=True,
                             text=True, stdin=subprocess.DEVNULL)
    assert unasked.returncode == 70 and not conf.exists(), unasked.stderr  # no terminal
    done = subprocess.run(zescrowctl + ["setup", blind.url, "--system", "--ca-file", blind.ca,
                                        "--fingerprint", fpr, "--custodians",
                                        ",".join(k.fingerprint for k in keys[::-1])],
                          env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "custodians mode" in done.stdout and "2 of these 3" in done.stdout
    from pam_zescrow import config

    enrolment = config.load(str(conf))
    assert enrolment.recovery == "custodians" and enrolment.threshold == 2
    assert enrolment.custodians == [k.fingerprint for k in keys]  # the published order
    assert Path(enrolment.custodians_file).read_bytes().startswith(b"-----BEGIN PGP")


def test_a_container_to_the_published_custodians_is_stored_client_checked(blind, container):
    s = blind.session()
    r = s.post(blind.url + "/api/v1/escrows", data=container, headers={"Content-Type": TYPE})
    assert r.status_code == 201, r.text
    created = r.json()
    status = s.get(blind.url + "/api/v1/escrows/" + created["id"],
                   headers={"Authorization": "Bearer " + created["upload_token"]}).json()
    assert status["verification"] == "client-checked"


def test_a_container_that_does_not_match_is_refused(blind, container, custodian_keys):
    keys, combined = custodian_keys
    doc = json.loads(container)
    doc["shares"][0]["sealed"], doc["shares"][1]["sealed"] = \
        doc["shares"][1]["sealed"], doc["shares"][0]["sealed"]
    r = blind.session().post(blind.url + "/api/v1/escrows", data=json.dumps(doc).encode(),
                             headers={"Content-Type": TYPE})
    assert r.status_code == 422 and r.json()["error"] == "custodian-container-invalid"
    other_k = seal.seal_to_custodians(b"archive", str(combined), [k.fingerprint for k in keys], 3,
                                      {"user": "alice", "host": "testbox"})
    r = blind.session().post(blind.url + "/api/v1/escrows", data=other_k,
                             headers={"Content-Type": TYPE})
    assert r.status_code == 422 and "threshold is 3" in r.json()["message"]


def test_the_2012_deposit_refuses_with_a_reason(blind):
    r = blind.session().post(blind.url + "/deposit/index.html",
                             data={"payload": "-----BEGIN PGP MESSAGE-----\n\nx\n"})
    assert r.status_code == 409 and "custodians" in r.text


def test_the_servers_data_folder_opens_no_escrow(blind, container):
    """Everything the server holds — its own private key included — against every share."""
    for share in json.loads(container)["shares"]:
        proc = subprocess.run(["gpg", "--homedir", str(blind.data / "gnupg"), "--batch",
                               "--decrypt"], input=base64.b64decode(share["sealed"]),
                              capture_output=True)
        assert proc.returncode != 0 and proc.stdout == b""
    held = b"".join(p.read_bytes() for p in blind.data.rglob("*")
                    if p.is_file() and not p.is_symlink() and p.stat().st_size < 10 ** 7)
    assert MOUNT not in held
    with pytest.raises(cust.ThresholdNotMet):
        cust.combine(container, [])
