"""The 2012 client's protocol, driven like its shell script did (curl and gpg), and
the admin commands."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from pam_zescrow import pipeline
from tests.common.ecryptfs_tools import make_setup, real_unwrap
from tests.server.conftest import LOGIN, MOUNT, upload

CLIENT_2012 = r"""
set -e
cd "$WORK"
curl -sf --cacert "$CA" "$SERVER/gpg.fingerprint" > fingerprint
curl -sf --cacert "$CA" "$SERVER/gpg.pub" > server.asc
gpg --homedir "$WORK/g" --batch --quiet --import server.asc
gpg --homedir "$WORK/g" --batch --quiet --trust-model always --armor \
    --recipient "$(cat fingerprint)" --output archive.tgz.asc --encrypt archive.tgz
curl -sf --cacert "$CA" -F "payload=<archive.tgz.asc" "$SERVER/deposit/index.html"
"""


def test_the_2012_shell_client_works_unchanged(server, tmp_path):
    work = tempfile.mkdtemp(prefix="z12-", dir="/tmp")  # short: gpg's socket paths
    try:
        os.makedirs(work + "/g", mode=0o700)
        prepared = pipeline.prepare(str(make_setup(tmp_path, MOUNT, LOGIN)), LOGIN)
        with open(work + "/archive.tgz", "wb") as f:
            f.write(prepared.archive.data)
        proc = subprocess.run(["bash", "-c", CLIENT_2012], capture_output=True, text=True,
                              env=dict(os.environ, WORK=work, CA=server.ca, SERVER=server.url))
    finally:
        subprocess.run(["gpgconf", "--homedir", work + "/g", "--kill", "all"],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip()
    assert url.startswith(server.url + "/claim/")
    after = url.rsplit("=", 1)[1]
    assert after.startswith(hashlib.md5(prepared.archive.data).hexdigest() + "-")
    assert len(after.split("-", 1)[1]) >= 22
    page = server.session().get(url)  # the 2012 link leads to the claim page
    assert page.status_code == 200 and "Claim your key backup" in page.text


# What the 2012 client did, as it did it: ~/.ecryptfs copied to a folder named
# "ecryptfs" (no dot), wrapped-passphrase replaced by what ecryptfs-unwrap-passphrase
# prints (a newline at the end), tarred, sealed armored, POSTed url-encoded.
CLIENT_2012_TAR = r"""
set -e
cd "$WORK"
FPR=$(curl -sf --cacert "$CA" "$SERVER/gpg.fingerprint")
curl -sf --cacert "$CA" "$SERVER/gpg.pub" | gpg --homedir "$WORK/g" --batch --quiet --import
tar -C "$WORK/tmp" -zcvf - ecryptfs | tee archive.tgz \
    | gpg --homedir "$WORK/g" --batch --quiet --trust-model always -a -e -r "0x$FPR" > payload
curl -sf --cacert "$CA" --data-urlencode "payload@payload" "$SERVER/deposit/index.html"
"""


def test_the_2012_clients_ecryptfs_folder_verifies_and_recovers(server, tmp_path, real_tools):
    setup = make_setup(tmp_path, MOUNT, LOGIN)
    work = tempfile.mkdtemp(prefix="z12-", dir="/tmp")  # short: gpg's socket paths
    try:
        os.makedirs(work + "/g", mode=0o700)
        folder = shutil.copytree(os.path.realpath(setup), work + "/tmp/ecryptfs")
        rc, unwrapped, err = real_unwrap(folder + "/wrapped-passphrase", LOGIN)
        assert rc == 0 and unwrapped == MOUNT + b"\n", err
        os.unlink(folder + "/wrapped-passphrase")
        with open(folder + "/unwrapped-passphrase", "wb") as f:
            f.write(unwrapped)
        proc = subprocess.run(["bash", "-c", CLIENT_2012_TAR], capture_output=True, text=True,
                              env=dict(os.environ, WORK=work, CA=server.ca, SERVER=server.url))
        assert proc.returncode == 0, proc.stderr
        with open(work + "/archive.tgz", "rb") as f:
            archive = f.read()
        url = proc.stdout.strip()
        assert url.rsplit("=", 1)[1].startswith(hashlib.md5(archive).hexdigest() + "-")
        deadline = time.monotonic() + 30
        page = server.session().get(url).text
        while 'id="verification"' in page and "verified:" not in page and "failed:" not in page:
            assert time.monotonic() < deadline, "still not checked"
            time.sleep(0.2)
            page = server.session().get(url).text
        assert "verified: the key opens this setup" in page, page
        cli = os.path.join(os.path.dirname(sys.executable), "zescrowctl")
        recover = subprocess.run([cli, "recover", work + "/archive.tgz", "--ecryptfs-dir",
                                  str(setup)], capture_output=True, text=True)
        assert recover.returncode == 0, recover.stderr
        assert "matches its Private.sig" in recover.stdout and "It is the key of" in recover.stdout
    finally:
        subprocess.run(["gpgconf", "--homedir", work + "/g", "--kill", "all"],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def test_legacy_refuses_what_is_not_armored_openpgp(server):
    r = server.session().post(server.url + "/deposit/index.html", data={"payload": "hello"})
    assert r.status_code == 422 and r.json()["error"] == "not-openpgp"


def _admin(server, *args):
    return subprocess.run(server.cli() + ["--data", str(server.data), "admin"] + list(args),
                          capture_output=True, text=True, check=True).stdout


def test_admin_lists_purges_expired_and_exports_the_audit(server, sealed):
    created = upload(server, sealed).json()
    assert created["id"] in _admin(server, "list")
    from tests.server.test_claim_browser import _expire

    _expire(server, created["id"])
    assert "purged" in _admin(server, "purge-expired")
    assert created["id"] not in _admin(server, "list")
    events = [json.loads(line) for line in _admin(server, "export-audit").splitlines()]
    actions = [(e["action"], e["actor"]) for e in events if e["escrow_id"] == created["id"]]
    assert actions == [("upload", "uploader"), ("purge", "admin")]
    again = [json.loads(line) for line in _admin(server, "export-audit").splitlines()]
    assert again[-1]["action"] == "audit-export" and again[-1]["actor"] == "admin"
