"""The 2012 client's protocol, driven like its shell script did (curl and gpg), and
the admin commands."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from pam_zescrow import pipeline
from tests.common.ecryptfs_tools import make_setup
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
