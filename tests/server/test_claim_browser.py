"""The claim flow in a real browser (Chromium via Playwright) against the real
OIDC provider, on SQLite and on PostgreSQL (S5, S6)."""

import io
import json
import subprocess
import tarfile
import time

import pytest

from tests.conftest import require
from tests.server.browser import CHROMIUM, Browser, fetch, oidc_login
from tests.server.conftest import MOUNT, upload

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(tls_dir):
    import os
    import shutil

    require(os.path.exists(CHROMIUM), "Debian's chromium is not installed")
    require(shutil.which("certutil"), "certutil (libnss3-tools) is not installed")
    b = Browser(os.path.join(tls_dir, "ca.pem"))
    yield b
    b.close()


def _claim(page, server, created, who):
    page.goto(created["claim_url"])
    page.click("#login-test")
    oidc_login(page, who)
    page.wait_for_url(created["claim_url"])
    return page


def _wait_verified_text(page, timeout=20):
    deadline = time.monotonic() + timeout
    while "verified" not in page.inner_text("#verification"):
        assert time.monotonic() < deadline, page.inner_text("#verification")
        time.sleep(0.3)
        page.reload()


def _archive_members(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() if m.isfile() else None for m in tar}


def test_claim_then_download_through_the_oidc_login(server, sealed, browser, smtp):
    created = upload(server, sealed).json()
    ctx = browser.context()
    page = _claim(ctx.new_page(), server, created, "alice")
    assert page.inner_text("#host") == "testbox" and page.inner_text("#user") == "alice"
    assert page.inner_text("#sha256") == created["sha256"]
    _wait_verified_text(page)
    page.click("#claim")
    page.wait_for_selector("#claimed")
    assert "alice@example.test" in page.inner_text("header")
    with page.expect_download() as info:
        page.click("#download-%s" % created["id"])
    data = open(info.value.path(), "rb").read()
    assert _archive_members(data)[".ecryptfs/unwrapped-passphrase"] == MOUNT + b"\n"
    # The API now says claimed; the owner was mailed; the audit log has it all.
    status = server.session().get("%s/api/v1/escrows/%s" % (server.url, created["id"]),
                                  headers={"Authorization": "Bearer " + created["upload_token"]})
    assert status.json()["state"] == "claimed"
    deadline = time.monotonic() + 10
    while not [m for m in smtp.messages if m["To"] == "alice@example.test"]:
        assert time.monotonic() < deadline, "no download notice was mailed"
        time.sleep(0.1)
    events = [json.loads(line) for line in subprocess.run(
        server.cli() + ["--data", str(server.data), "admin", "export-audit"],
        capture_output=True, text=True, check=True).stdout.splitlines()]
    mine = [(e["action"], e["actor"]) for e in events if e["escrow_id"] == created["id"]]
    assert mine == [("upload", "uploader"), ("claim", "alice@example.test"),
                    ("download", "alice@example.test")]
    assert all(e["source"] == "127.0.0.1" for e in events if e["escrow_id"] == created["id"])
    # A used claim link does not work again.
    page.goto(created["claim_url"])
    assert "does not work" in page.inner_text("h1")
    ctx.close()


def test_another_identity_can_neither_claim_nor_download(server, sealed, browser):
    alices = upload(server, sealed).json()
    ctx_a = browser.context()
    page_a = _claim(ctx_a.new_page(), server, alices, "alice2")
    page_a.click("#claim")
    page_a.wait_for_selector("#claimed")

    ctx_b = browser.context()
    page_b = ctx_b.new_page()
    page_b.goto(server.url + "/login/test?next=/")
    oidc_login(page_b, "bob")
    page_b.wait_for_url(server.url + "/")
    status, _ = fetch(page_b, "%s/escrows/%s/download" % (server.url, alices["id"]), "POST",
                      {"csrf": "none"})
    assert status == 404  # not even whether it exists
    assert "You have no backups yet" in page_b.inner_text("main")
    page_b.goto(alices["claim_url"])  # alice's link, already used
    assert "does not work" in page_b.inner_text("h1")
    # Bob claims his own; alice cannot reach it.
    bobs = upload(server, sealed, **{"X-Zescrow-User": "bob"}).json()
    page_b.goto(bobs["claim_url"])
    page_b.click("#claim")
    page_b.wait_for_selector("#claimed")
    status, _ = fetch(page_a, "%s/escrows/%s/download" % (server.url, bobs["id"]), "POST",
                      {"csrf": page_a.get_attribute("input[name=csrf]", "value")})
    assert status == 404
    ctx_a.close()
    ctx_b.close()


def test_claim_needs_a_valid_csrf_token_and_an_unexpired_link(server, sealed, browser):
    created = upload(server, sealed).json()
    ctx = browser.context()
    page = _claim(ctx.new_page(), server, created, "carol")
    for form in ({}, {"csrf": "forged"}):
        status, body = fetch(page, created["claim_url"], "POST", form)
        assert status == 403 and json.loads(body)["error"] == "csrf-failed"
    # The token survived the forged posts; now make it expire.
    _expire(server, created["id"])
    page.reload()
    assert "expired" in page.inner_text("h1")
    assert page.locator("#claim").count() == 0
    ctx.close()


def test_download_needs_a_fresh_login(strict_server, sealed, browser):
    server = strict_server
    created = upload(server, sealed).json()
    ctx = browser.context()
    page = _claim(ctx.new_page(), server, created, "dave")
    page.click("#claim")
    page.wait_for_selector("#claimed")
    time.sleep(4)  # the server takes logins of the last 3 s for a download
    page.goto(server.url + "/")
    page.click("#download-%s" % created["id"])
    # Sent back to the provider, which asks again (prompt=login); then back on the
    # owner's page, the button gives the archive.
    page.wait_for_selector("input[name=login]")
    oidc_login(page, "dave")
    page.wait_for_url(server.url + "/")
    with page.expect_download() as info:
        page.click("#download-%s" % created["id"])
    assert _archive_members(open(info.value.path(), "rb").read())[
        ".ecryptfs/unwrapped-passphrase"] == MOUNT + b"\n"
    ctx.close()


def _expire(server, escrow_id):
    sql = "UPDATE escrows SET claim_expires_at = '2000-01-01 00:00:00' WHERE id = '%s'" % (
        escrow_id)
    if server.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(server.database_url[len("sqlite:///"):]) as conn:
            conn.execute(sql)
    else:
        import psycopg

        with psycopg.connect(server.database_url, autocommit=True) as conn:
            conn.execute(sql)
