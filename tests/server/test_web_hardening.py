"""Issue #11: what a browser is told (headers), addresses and lengths checked before the
database, and what init and the unit leave on disk (findings 10 and 13)."""

import os
import re
import subprocess

from tests.conftest import ROOT
from tests.server.admin import cli, data_folder
from tests.server.conftest import upload
from tests.server.login import claim, signed_in


def test_pages_and_the_api_tell_the_browser_to_keep_them_to_themselves(server):
    s = server.session()
    for path in ("/", "/login", "/.well-known/zescrow.json", "/api/v1/escrows/" + "0" * 32,
                 "/claim/nosuchtoken"):
        h = s.get(server.url + path, allow_redirects=False).headers
        csp = h.get("Content-Security-Policy", "")
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
        assert "script-src" not in csp  # no script at all: default-src 'none' holds
        assert h.get("X-Frame-Options") == "DENY", path
        assert h.get("Referrer-Policy") == "no-referrer", path  # claim URLs hold the token
        assert h.get("X-Content-Type-Options") == "nosniff", path
        assert re.fullmatch(r"max-age=\d{8,}", h.get("Strict-Transport-Security", "")), path


def test_a_forwarded_address_that_is_no_address_is_no_500(server, sealed):
    """Whether the header is believed (from a trusted proxy) or not, it never reaches the
    audit log's 64 characters unchecked: a 400, or the peer's own address."""
    bogus = {"X-Forwarded-For": "1" * 100}
    created = upload(server, sealed, **bogus)
    assert created.status_code in (201, 400), created.text
    if created.status_code == 400:
        assert created.json()["error"] == "invalid-request"
        assert "X-Forwarded-For" in created.json()["message"]
        created = upload(server, sealed)
    created = created.json()
    owner = signed_in(server, "test", "kim-f10")
    owner.headers.update(bogus)
    assert claim(owner, created["claim_url"]).status_code in (303, 400)
    r = server.session().delete("%s/api/v1/escrows/%s" % (server.url, created["id"]),
                                headers=dict(bogus, Authorization="Bearer "
                                             + created["upload_token"]))
    assert r.status_code in (204, 400, 409), r.text
    assert upload(server, sealed, **{"X-Forwarded-For": "2001:db8::7"}).status_code == 201
    audit = subprocess.run(server.cli() + ["--data", str(server.data), "admin", "export-audit"],
                           capture_output=True, text=True, check=True).stdout
    assert "1" * 65 not in audit


def test_init_makes_an_existing_open_folder_private_and_the_database_0600():
    with data_folder() as data:
        os.mkdir(data, 0o755)
        os.chmod(data, 0o755)
        made = cli(data, "init")
        assert made.returncode == 0, made.stderr
        assert os.stat(data).st_mode & 0o777 == 0o700
        for name in os.listdir(data):
            if name.startswith("zescrow.db"):
                assert os.stat(os.path.join(data, name)).st_mode & 0o077 == 0, name
        # A database left readable by an older version is closed too.
        db = os.path.join(data, "zescrow.db")
        os.chmod(db, 0o644)
        assert cli(data, "init").returncode == 0
        assert os.stat(db).st_mode & 0o777 == 0o600


def test_the_unit_allows_no_core_dumps():
    unit = (ROOT / "debian" / "zescrow-server.service").read_text()
    service = unit.split("[Service]", 1)[1].split("\n[", 1)[0]
    assert re.search(r"^LimitCORE=0$", service, re.M), service
