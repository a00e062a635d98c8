"""Helpdesk recovery with two people (#13), in Chromium through the real OIDC provider.

Three identities, each its own browser context and its own login at the
provider: the owner (no role), a helpdesk member ("NAME+helpdesk": the
provider's groups claim, matched by `helpdesk = ["group:helpdesk"]`) and an
approver ("NAME+admins", `admins = ["group:admins"]`); a fourth who is both
shows that asking and approving cannot be one person. Mails go to a real
SMTP server; the audit log is read with `zescrow-server admin export-audit`.
An approval's expiry is shown by moving its time back in the database, not
by waiting.
"""

import datetime as dt
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from pam_zescrow import pipeline, seal
from tests.common.ecryptfs_tools import make_setup
from tests.common.gpgkeys import make_custodian_key
from tests.common.servers import OidcProvider, ZescrowServer, free_port
from tests.conftest import require
from tests.server.browser import CHROMIUM, Browser, claim, fetch, oidc_login
from tests.server.conftest import MOUNT, upload

pytestmark = pytest.mark.slow

RUN = secrets.token_hex(3)  # the provider and the SMTP server outlive one test: unique names
ROLES = dict(helpdesk=["group:helpdesk"], admins=["group:admins"], helpdesk_approval_hours=1)
PORTS = [free_port(), free_port()]  # server mode, custodians mode
TYPE = "application/vnd.zescrow.custodians+json"
ZESCROWCTL = os.path.join(os.path.dirname(sys.executable), "zescrowctl")


@pytest.fixture(scope="module")
def provider():
    """Our own provider (its redirect URIs name this module's servers), honest unless
    told otherwise (behave): it can vouch for an old sign-in."""
    require(shutil.which("node"), "node is not installed")
    p = OidcProvider(["https://127.0.0.1:%d/auth/test/callback" % port for port in PORTS],
                     hostile=True)
    yield p
    p.close()


@pytest.fixture(scope="module")
def server(key_home, tls_dir, provider, smtp):
    srv = ZescrowServer(PORTS[0], key_home, tls_dir, workers=1, oidc=provider,
                        smtp_host="127.0.0.1", smtp_port=smtp.port, rate_limit_per_minute=0,
                        **ROLES)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def browser(tls_dir):
    require(os.path.exists(CHROMIUM), "Debian's chromium is not installed")
    require(shutil.which("certutil"), "certutil (libnss3-tools) is not installed")
    b = Browser(os.path.join(tls_dir, "ca.pem"))
    yield b
    b.close()


def _person(prefix, roles=""):
    name = "%s%s%s" % (prefix, RUN, "+" + roles if roles else "")
    return name, name.replace(",", ".") + "@example.test"  # as the provider makes it


def _sign_in(browser, server, name, next="/helpdesk"):
    page = browser.context().new_page()
    page.goto("%s/login/test?next=%s" % (server.url, next))
    oidc_login(page, name)
    page.wait_for_url(server.url + next)
    return page


def _owned(browser, server, sealed, owner, user):
    """An upload from `user`'s machine, claimed by `owner` in Chromium: (escrow, page)."""
    created = upload(server, sealed, **{"X-Zescrow-User": user}).json()
    return created, claim(browser, created["claim_url"], owner)


def _ask(page, server, owner_email, escrow_id, reason):
    """The helpdesk finds the escrow by its owner's email and asks: the request's id."""
    page.goto(server.url + "/helpdesk")
    page.fill("#q", owner_email)
    page.click("#search")
    page.fill("#reason-%s" % escrow_id, reason)
    page.click("#ask-%s" % escrow_id)
    page.wait_for_selector("#state")
    return page.url.rsplit("/", 1)[1]


def _decide(page, server, request_id, decision, reason):
    page.goto("%s/helpdesk/requests/%s" % (server.url, request_id))
    page.fill("#decision-reason", reason)
    page.click("#" + decision)
    page.wait_for_selector("#decision")
    return page.inner_text("#state")


def _csrf(page, server, owner_email):
    """The session's CSRF token, from a form the helpdesk's search shows."""
    page.goto("%s/helpdesk?q=%s" % (server.url, owner_email.replace("+", "%2B")))
    return page.get_attribute("input[name=csrf]", "value")


def _mails_to(smtp, address, count, timeout=10):
    deadline = time.monotonic() + timeout
    while len([m for m in smtp.messages if m["To"] == address]) < count:
        assert time.monotonic() < deadline, [(m["To"], m["Subject"]) for m in smtp.messages]
        time.sleep(0.1)
    return [m for m in smtp.messages if m["To"] == address]


def _text(message):
    return message.get_payload(decode=True).decode()


def _audit(server, escrow_id):
    return [e for e in map(json.loads, subprocess.run(
        server.cli() + ["--data", str(server.data), "admin", "export-audit"],
        capture_output=True, text=True, check=True).stdout.splitlines())
        if e["escrow_id"] == escrow_id]


def _sql(server, statement, *args):
    with sqlite3.connect(str(server.data / "zescrow.db")) as db:
        return db.execute(statement, args).fetchall()


def _members(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() if m.isfile() else None for m in tar}


def test_helpdesk_asks_another_admin_approves_the_requester_downloads(server, sealed, browser,
                                                                     smtp, provider):
    owner, owner_email = _person("ow")
    helpdesk, helpdesk_email = _person("hd", "helpdesk")
    approver, approver_email = _person("ap", "admins")
    created, owner_page = _owned(browser, server, sealed, owner, "olive")
    escrow = created["id"]

    # The owner has no role: the helpdesk's page is not for them.
    answer = owner_page.goto(server.url + "/helpdesk")
    assert answer.status == 403 and "Only for the helpdesk" in owner_page.inner_text("h1")
    assert "not among this server's helpdesk members" in owner_page.inner_text("main")

    # The helpdesk signs in; the provider vouches for a sign-in of an hour ago, which is
    # enough to ask but not to take the key.
    provider.behave(id_token={"auth_time": int(time.time()) - 3600})
    hd = _sign_in(browser, server, helpdesk)
    provider.behave()
    request_id = _ask(hd, server, owner_email, escrow, "owner locked out <b>after</b> leave")
    assert hd.inner_text("#state") == "pending" and hd.locator("#waiting").count() == 1
    assert "owner locked out <b>after</b> leave" == hd.inner_text("#reason")  # escaped
    [asked] = _mails_to(smtp, owner_email, 1)
    assert "asked to recover" in asked["Subject"] and "owner locked out" in _text(asked)
    # Not yet approved: no key. Not an admin: no decision.
    csrf = _csrf(hd, server, owner_email)
    status, body = fetch(hd, "%s/helpdesk/requests/%s/download" % (server.url, request_id),
                         "POST", {"csrf": csrf})
    assert status == 409 and "an admin other than you must approve it first" in body
    status, body = fetch(hd, "%s/helpdesk/requests/%s/decision" % (server.url, request_id),
                         "POST", {"csrf": csrf, "decision": "approve", "reason": "me"})
    assert status == 403 and "not among this server&#39;s admins" in body

    # Another person, an admin, approves with a reason; the owner and the requester hear.
    ap = _sign_in(browser, server, approver)
    assert _decide(ap, server, request_id, "approve", "ticket 4711, manager agreed") == \
        "approved"
    assert "ticket 4711" in ap.inner_text("#decision")
    approved = _mails_to(smtp, owner_email, 2)[1]
    assert "approved" in approved["Subject"] and approver_email in _text(approved)
    assert "approved" in _mails_to(smtp, helpdesk_email, 1)[0]["Subject"]
    # Decided once: a second decision is refused. The approval is the requester's alone.
    status, body = fetch(ap, "%s/helpdesk/requests/%s/decision" % (server.url, request_id),
                         "POST", {"csrf": _csrf(ap, server, owner_email), "decision": "decline",
                                  "reason": "changed my mind"})
    assert status == 409 and "already approved" in body
    status, body = fetch(ap, "%s/helpdesk/requests/%s/download" % (server.url, request_id),
                         "POST", {"csrf": _csrf(ap, server, owner_email)})
    assert status == 403 and "Only %s, who asked" % helpdesk_email in body

    # The requester downloads: their sign-in is an hour old, so the provider is asked
    # for a new one (its login form again); back on the request's page, the button
    # gives the archive.
    hd.goto("%s/helpdesk/requests/%s" % (server.url, request_id))
    hd.click("#download")
    hd.wait_for_selector("input[name=login]")
    oidc_login(hd, helpdesk)
    hd.wait_for_url("%s/helpdesk/requests/%s" % (server.url, request_id))
    with hd.expect_download() as info:
        hd.click("#download")
    data = open(info.value.path(), "rb").read()
    assert _members(data)[".ecryptfs/unwrapped-passphrase"] == MOUNT + b"\n"

    # Exposed, and the owner is told: by mail, and on their page.
    [(exposed_at, reason)] = _sql(server, "SELECT exposed_at, exposed_reason FROM escrows "
                                  "WHERE id = ?", escrow)
    assert exposed_at and helpdesk_email in reason and approver_email in reason
    assert "owner locked out" in reason
    told = _mails_to(smtp, owner_email, 3)[2]
    assert "recovered by the helpdesk" in told["Subject"] and "127.0.0.1" in _text(told)
    owner_page.goto(server.url + "/")
    assert "no longer secret" in owner_page.inner_text("#exposed-%s" % escrow)

    # Audited: who (name, provider, subject), what, when, from where, why.
    events = _audit(server, escrow)
    actions = [e["action"] for e in events]
    assert actions == ["upload", "claim", "helpdesk-request", "helpdesk-mail",
                       "helpdesk-refused", "helpdesk-refused", "helpdesk-approve",
                       "helpdesk-mail", "helpdesk-refused", "helpdesk-refused",
                       "helpdesk-download", "escrow-exposed", "helpdesk-mail"], actions
    assert [(e["actor"], e["detail"]["refused"]) for e in events
            if e["action"] == "helpdesk-refused"] == [
        (helpdesk_email, "not-approved"), (helpdesk_email, "not-admin"),
        (approver_email, "already-decided"), (approver_email, "not-requester")]
    by = {e["action"]: e for e in events}
    assert by["helpdesk-request"]["actor"] == helpdesk_email
    assert by["helpdesk-request"]["detail"]["reason"] == "owner locked out <b>after</b> leave"
    assert (by["helpdesk-request"]["detail"]["provider"],
            by["helpdesk-request"]["detail"]["subject"]) == ("test", helpdesk)
    assert by["helpdesk-approve"]["actor"] == approver_email
    assert by["helpdesk-approve"]["detail"]["reason"] == "ticket 4711, manager agreed"
    assert by["helpdesk-download"]["actor"] == helpdesk_email
    assert by["helpdesk-mail"]["detail"]["to"] == [owner_email]
    for e in events[2:]:
        assert e["at"] and e["detail"]["request"] == request_id, e
        assert e["source"] == ("" if e["action"] == "helpdesk-mail" else "127.0.0.1"), e


def test_whoever_asks_cannot_approve_it_too(server, sealed, browser):
    owner, owner_email = _person("os")
    both, both_email = _person("zz", "helpdesk,admins")  # helpdesk and admin in one person
    approver, _ = _person("aq", "admins")
    created, _ = _owned(browser, server, sealed, owner, "sam")
    page = _sign_in(browser, server, both)
    request_id = _ask(page, server, owner_email, created["id"], "laptop stolen, user abroad")
    # Its requester's page offers no approval and says why; the server refuses one anyway.
    assert page.locator("#approve").count() == 0
    assert "an admin other than you must approve it" in page.inner_text("#waiting")
    status, body = fetch(page, "%s/helpdesk/requests/%s/decision" % (server.url, request_id),
                         "POST", {"csrf": _csrf(page, server, owner_email),
                                  "decision": "approve", "reason": "it is fine"})
    assert status == 403 and "You cannot approve your own request" in body
    assert "two people must agree" in body and "Ask another admin" in body
    page.goto("%s/helpdesk/requests/%s" % (server.url, request_id))
    assert page.inner_text("#state") == "pending"
    refused = [e for e in _audit(server, created["id"]) if e["action"] == "helpdesk-refused"]
    assert [(e["actor"], e["detail"]["refused"]) for e in refused] == [
        (both_email, "self-approval")]
    # Another admin may.
    ap = _sign_in(browser, server, approver)
    assert _decide(ap, server, request_id, "approve", "checked with the user's manager") == \
        "approved"


def test_an_approval_expires(server, sealed, browser):
    owner, owner_email = _person("oe")
    helpdesk, helpdesk_email = _person("he", "helpdesk")
    approver, _ = _person("ae", "admins")
    created, _ = _owned(browser, server, sealed, owner, "eve")
    hd = _sign_in(browser, server, helpdesk)
    request_id = _ask(hd, server, owner_email, created["id"], "user forgot the password")
    assert _decide(_sign_in(browser, server, approver), server, request_id, "approve",
                   "ok") == "approved"
    # helpdesk_approval_hours = 1: the approval was given two hours ago.
    now = dt.datetime.utcnow()
    _sql(server, "UPDATE helpdesk_requests SET decided_at = ?, approved_until = ? WHERE id = ?",
         (now - dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S.%f"),
         (now - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f"), request_id)
    hd.goto("%s/helpdesk/requests/%s" % (server.url, request_id))
    assert hd.inner_text("#state") == "expired" and hd.locator("#download").count() == 0
    assert "file a new request" in hd.inner_text("#expired")
    status, body = fetch(hd, "%s/helpdesk/requests/%s/download" % (server.url, request_id),
                         "POST", {"csrf": _csrf(hd, server, owner_email)})
    assert status == 410 and "This approval has expired" in body
    assert "may be used for 1 hours" in body
    assert _sql(server, "SELECT exposed_at FROM escrows WHERE id = ?", created["id"]) == [
        (None,)]
    refused = [e for e in _audit(server, created["id"]) if e["action"] == "helpdesk-refused"]
    assert [(e["actor"], e["detail"]["refused"]) for e in refused] == [
        (helpdesk_email, "approval-expired")]


# --- custodians mode: the approval is what lets the custodians' request start ---

@pytest.fixture(scope="module")
def custodians(tmp_path_factory):
    require(shutil.which("gpg"), "gpg is not installed")
    folder = tmp_path_factory.mktemp("hdc")
    keys = []
    try:
        for n in "abc":
            keys.append(make_custodian_key(str(folder), "hd%s %s" % (RUN, n)))
        combined = folder / "custodians.asc"
        combined.write_bytes(b"".join(open(k.public_path, "rb").read() for k in keys))
        yield keys, combined
    finally:
        for key in keys:
            key.close()


@pytest.fixture(scope="module")
def blind(key_home, tls_dir, provider, smtp, custodians):
    _, combined = custodians
    srv = ZescrowServer(PORTS[1], key_home, tls_dir, workers=1, oidc=provider,
                        smtp_host="127.0.0.1", smtp_port=smtp.port, rate_limit_per_minute=0,
                        init_args=["--custodians", str(combined), "--threshold", "2"], **ROLES)
    yield srv
    srv.close()


@pytest.fixture
def requester_home():
    """The helpdesk's machine that will hold the key: a short HOME, removed after."""
    home = Path(tempfile.mkdtemp(prefix="zh-"))
    yield home
    for agent_home in (home / "data" / "zescrow" / "recovery").glob("*"):
        subprocess.run(["gpgconf", "--homedir", str(agent_home), "--kill", "all"],
                       capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def _zescrowctl(home, *args):
    env = dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / "data"), LC_ALL="C.UTF-8",
               ZESCROW_CONF=str(home / "none.conf"), ZESCROW_USER_CONF=str(home / "none2.conf"))
    return subprocess.run([ZESCROWCTL] + list(args), env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_custodians_mode_the_approval_lets_the_requester_ask_the_custodians(
        blind, custodians, browser, smtp, tmp_path, requester_home):
    keys, combined = custodians
    owner, owner_email = _person("oc")
    helpdesk, helpdesk_email = _person("hc", "helpdesk")
    approver, approver_email = _person("ac", "admins")
    setup = make_setup(tmp_path, b"c0de" * 8, b"custodians helpdesk login")
    sealed = seal.seal_to_custodians(pipeline.prepare(str(setup), b"custodians helpdesk login")
                                     .archive.data, str(combined), [k.fingerprint for k in keys],
                                     2, {"user": "carla", "host": "testbox"})
    created = upload(blind, sealed, ctype=TYPE, **{"X-Zescrow-User": "carla"}).json()
    claim(browser, created["claim_url"], owner)

    hd = _sign_in(browser, blind, helpdesk)
    request_id = _ask(hd, blind, owner_email, created["id"], "carla left, her data is needed")
    # Before an approval, nothing starts.
    assert hd.locator("#start-custodians").count() == 0
    status, body = fetch(hd, "%s/helpdesk/requests/%s/custodians" % (blind.url, request_id),
                         "POST", {"csrf": _csrf(hd, blind, owner_email)})
    assert status == 409 and "must approve it first" in body
    assert _decide(_sign_in(browser, blind, approver), blind, request_id, "approve",
                   "legal hold 12") == "approved"

    # Approved: the requester starts the custodians' request; its links are shown once.
    hd.goto("%s/helpdesk/requests/%s" % (blind.url, request_id))
    hd.click("#start-custodians")
    hd.wait_for_selector("#opened")
    requester_url = hd.inner_text("#requester-command").split()[-1]
    custodian_url = hd.inner_text("#custodian-command").split()[-1]
    # Each custodian is mailed their link, who asks and why; the owner is told.
    for key in keys:
        [asked] = _mails_to(smtp, key.email, 1)
        text = _text(asked)
        assert custodian_url in text and requester_url not in text
        assert helpdesk_email in text and "carla left" in text and approver_email in text
    assert any("asked the custodians" in m["Subject"] for m in _mails_to(smtp, owner_email, 3))
    # The request exists, on the helpdesk's behalf; it starts once.
    doc = blind.session().get(blind.url + "/api/v1/recovery/" + requester_url.rsplit("/")[-1],
                              timeout=30).json()
    assert doc["state"] == "open" and doc["requested_by"] == helpdesk_email
    assert "carla left" in doc["reason"] and doc["escrow"]["id"] == created["id"]
    hd.goto("%s/helpdesk/requests/%s" % (blind.url, request_id))
    assert hd.locator("#start-custodians").count() == 0 and "was started" in hd.inner_text(
        "main")
    status, body = fetch(hd, "%s/helpdesk/requests/%s/custodians" % (blind.url, request_id),
                         "POST", {"csrf": _csrf(hd, blind, owner_email)})
    assert status == 409 and "started already" in body
    assert _sql(blind, "SELECT exposed_at FROM escrows WHERE id = ?", created["id"]) == [
        (None,)]  # nothing is exposed until the custodians agree

    # The requester's machine registers its key; two custodians approve: exposed.
    ca = blind.ca
    first = _zescrowctl(requester_home, "recover", "--request", requester_url, "--ca-file", ca)
    assert first.returncode == 78, first.stdout + first.stderr
    fpr = re.search(r"recovery key: ([0-9A-F ]{49})", first.stdout).group(1).replace(" ", "")
    for key in keys[:2]:
        approve = _zescrowctl(requester_home, "custodian", "approve", custodian_url,
                              "--expect-requester", fpr, "--yes", "--gnupghome", key.home,
                              "--ca-file", ca)
        assert approve.returncode == 0, approve.stdout + approve.stderr
    [(exposed_at, reason)] = _sql(blind, "SELECT exposed_at, exposed_reason FROM escrows "
                                  "WHERE id = ?", created["id"])
    assert exposed_at and helpdesk_email in reason and approver_email in reason
    # The owner did not ask: the mail says the helpdesk recovered it, not "your request".
    ready = _mails_to(smtp, owner_email, 4)[3]
    assert "recovered by the helpdesk" in ready["Subject"], ready["Subject"]
    assert helpdesk_email in _text(ready) and "no longer secret" in _text(ready)
    actions = [e["action"] for e in _audit(blind, created["id"])]
    assert actions[2:] == ["helpdesk-request", "helpdesk-mail", "helpdesk-refused",
                           "helpdesk-approve", "helpdesk-mail", "helpdesk-custodians",
                           "recovery-request", "recovery-mail", "helpdesk-refused",
                           "recovery-key", "recovery-approve", "recovery-approve",
                           "recovery-ready", "escrow-exposed"], actions

    # An admin cancels the helpdesk request: the custodians' request it started stops
    # with it, and the requester's machine is told why.
    done = subprocess.run(blind.cli() + ["--data", str(blind.data), "admin", "helpdesk",
                                         "cancel", request_id, "--reason", "wrong person"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "was stopped" in done.stdout and "had left already" in done.stdout, done.stdout
    told = _mails_to(smtp, owner_email, 5)[4]
    assert "cancelled" in told["Subject"] and "recovered before that" in _text(told)
    answer = blind.session().get(blind.url + "/api/v1/recovery/" +
                                 requester_url.rsplit("/")[-1], timeout=30)
    assert answer.status_code == 410 and "cancelled" in answer.json()["message"]
    again = _zescrowctl(requester_home, "recover", "--request", requester_url, "--ca-file", ca)
    assert again.returncode != 0 and "cancelled" in again.stdout + again.stderr, \
        again.stdout + again.stderr
    assert [e["action"] for e in _audit(blind, created["id"])][-2:] == [
        "recovery-cancelled", "helpdesk-cancel"]
