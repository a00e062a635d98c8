"""Helpdesk recovery after an adversarial review (#13): what it found, each shown to
hold now. Real server (SQLite and PostgreSQL), the real OIDC provider (its hostile
mode for claims a provider might send), logins over HTTP as a browser without scripts.
The flow itself, in Chromium with three people: test_helpdesk.py."""

import datetime as dt
import re
import signal
import subprocess

import pytest

from tests.common.servers import ZescrowServer
from tests.server.conftest import PORTS, upload
from tests.server.login import claim, signed_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, key_home, tls_dir, oidc, hostile_oidc, smtp):
    url = request.getfixturevalue("postgres").create_database("zescrow_helpdesk_review") \
        if request.param == "postgresql" else None
    srv = ZescrowServer(PORTS[18 + (request.param == "postgresql")], key_home, tls_dir,
                        workers=1, oidc=oidc, more_oidc=[("hostile", hostile_oidc)],
                        database_url=url, rate_limit_per_minute=0, helpdesk=["group:helpdesk"],
                        admins=["group:admins", "group:temp-admins", "boss@example.test"],
                        smtp_host="127.0.0.1",
                        smtp_port=smtp.port)
    yield srv
    srv.close()


def _csrf(s, url):
    found = re.search(r'name="csrf" value="([^"]+)"', s.get(url, timeout=30).text)
    assert found, url
    return found.group(1)


def _claimed(server, sealed, owner):
    created = upload(server, sealed).json()
    s = signed_in(server, "test", owner)
    assert claim(s, created["claim_url"]).status_code == 303
    return created["id"]


def _ask(server, s, escrow_id, reason="locked out"):
    r = s.post(server.url + "/helpdesk/requests", data={
        "csrf": _csrf(s, server.url + "/helpdesk?q=" + escrow_id), "escrow": escrow_id,
        "reason": reason}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:300]
    return r.headers["location"].rsplit("/", 1)[1]


def _decide(server, s, request_id, decision="approve", reason="ticket 7", csrf=None):
    page = server.url + "/helpdesk/requests/" + request_id
    return s.post(page + "/decision", data={"csrf": csrf or _csrf(s, page),
                                            "decision": decision, "reason": reason},
                  allow_redirects=False, timeout=30)


def _sql(server, statement, *params):
    """One statement, "?" for each parameter, on the server's database (its own driver)."""
    if server.database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(server.database_url[len("sqlite:///"):]) as db:
            return db.execute(statement, params).fetchall()
    import psycopg

    with psycopg.connect(server.database_url) as db:
        cursor = db.execute(statement.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else None


def _events(server, escrow_id):
    """The audit log's events on `escrow_id` (admin export-audit)."""
    import json

    lines = _admin(server, "export-audit").stdout.splitlines()
    return [e for e in map(json.loads, (line for line in lines if line.startswith("{")))
            if e["escrow_id"] == escrow_id]


def _refusals(server, escrow_id):
    return [e["detail"]["refused"] for e in _events(server, escrow_id)
            if e["action"] == "helpdesk-refused"]


def _approved(server, sealed, who):
    """An escrow `owner-WHO` claimed, asked for by `hd-WHO` (helpdesk) and approved by
    `ap-WHO` (an admin): (escrow id, the requester's session, request id)."""
    escrow_id = _claimed(server, sealed, "owner-" + who)
    hd = signed_in(server, "test", "hd-%s+helpdesk" % who)
    request_id = _ask(server, hd, escrow_id)
    assert _decide(server, signed_in(server, "test", "ap-%s+admins" % who), request_id) \
        .status_code == 303
    return escrow_id, hd, request_id


def _admin(server, *args):
    return subprocess.run(server.cli() + ["--data", str(server.data), "admin"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_ids_and_searches_with_a_nul_are_not_found_not_a_500(server, sealed):
    escrow_id = _claimed(server, sealed, "owner-nul")
    hd = signed_in(server, "test", "nul+helpdesk")
    assert hd.get(server.url + "/helpdesk?q=a%00b", timeout=30).status_code == 200
    for path in ("/helpdesk/requests/a%00b", "/helpdesk/requests/a%00b/download"):
        r = hd.get(server.url + path, timeout=30, allow_redirects=False)
        assert r.status_code in (303, 404), (path, r.status_code, r.text[:200])
    r = hd.post(server.url + "/helpdesk/requests", data={
        "csrf": _csrf(hd, server.url + "/helpdesk?q=" + escrow_id), "escrow": "a\x00b",
        "reason": "x"},
        timeout=30)
    assert r.status_code == 404, r.text[:300]


def test_an_email_that_is_not_one_plain_address_is_no_address(server, sealed, hostile, smtp):
    escrow_id = _claimed(server, sealed, "owner-mail")
    for address in ("hd@example.test\r\nBcc: x@evil.test", "hd@example.test, x@evil.test",
                    "ap@example.test."):  # a trailing dot: another spelling of an admin's
        hostile.behave(claims={"email": address, "email_verified": True,
                               "name": "security-officer@example.test"})
        s = signed_in(server, "hostile", "hd-mail+helpdesk")
        page = s.get(server.url + "/", timeout=30).text
        # Shown with who they are at which provider, never as the address they chose.
        assert "security-officer@example.test (hostile:hd-mail+helpdesk)" in page, page[:500]
        before = len(smtp.messages)
        request_id = _ask(server, s, escrow_id)
        assert request_id  # saved and answered: no 500 after the step
        assert all("evil.test" not in str(m) for m in smtp.messages[before:])


def test_an_admin_can_cancel_an_approval(server, sealed, smtp):
    escrow_id = _claimed(server, sealed, "owner-cancel")
    hd = signed_in(server, "test", "hd-cancel+helpdesk")
    request_id = _ask(server, hd, escrow_id)
    ap = signed_in(server, "test", "ap-cancel+admins")
    page = server.url + "/helpdesk/requests/" + request_id
    r = ap.post(page + "/decision", data={"csrf": _csrf(ap, page), "decision": "approve",
                                          "reason": "ticket 7"}, allow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    listed = _admin(server, "helpdesk", "list")
    assert request_id in listed.stdout and "approved" in listed.stdout, listed.stderr
    before = len(smtp.messages)
    # As an admin might paste it: upper case, with a space.
    done = _admin(server, "helpdesk", "cancel", " " + request_id.upper(), "--reason",
                  "not authorised")
    assert done.returncode == 0 and "can no longer be used" in done.stdout, done.stderr
    assert any("cancelled" in str(m["Subject"]) for m in smtp.messages[before:])
    fresh = signed_in(server, "test", "hd-cancel+helpdesk")
    r = fresh.post(page + "/download", data={  # the page has no button now: a search's form
        "csrf": _csrf(fresh, server.url + "/helpdesk?q=" + escrow_id)},
                   allow_redirects=False, timeout=30)
    assert r.status_code == 409 and "cancelled" in r.text, (r.status_code, r.text[:300])
    shown = fresh.get(page, timeout=30).text
    assert "Cancelled by the server" in shown and "Approval usable until" not in shown
    # Cancelled once: a second cancel says so, mails nobody, records nothing new.
    before = len(smtp.messages)  # (an export is itself recorded: count the cancels)
    events = _admin(server, "export-audit").stdout.count('"helpdesk-cancel"')
    again = _admin(server, "helpdesk", "cancel", request_id, "--reason", "again")
    assert again.returncode == 0 and "cancelled already" in again.stdout, again.stderr
    assert "not authorised" in again.stdout
    assert len(smtp.messages) == before
    assert _admin(server, "export-audit").stdout.count('"helpdesk-cancel"') == events == 1
    assert "helpdesk-cancel" in _admin(server, "export-audit").stdout
    unknown = _admin(server, "helpdesk", "cancel", "0" * 16, "--reason", "x")
    assert unknown.returncode == 92 and "helpdesk list" in unknown.stderr


def test_the_admins_listed_by_address_hear_of_a_request(server, sealed, smtp):
    escrow_id = _claimed(server, sealed, "owner-tell")
    before = len(smtp.messages)
    request_id = _ask(server, signed_in(server, "test", "hd-tell+helpdesk"), escrow_id,
                      reason="ticket 99")
    [told] = [m for m in smtp.messages[before:] if m["To"] == "boss@example.test"]
    text = told.get_payload(decode=True).decode()
    assert "ticket 99" in text and server.url + "/helpdesk/requests/" + request_id in text
    assert "hd-tell+helpdesk@example.test" in text
    # (group: entries have no address; the requester is never asked to decide.)
    assert {m["To"] for m in smtp.messages[before:]} == {"boss@example.test",
                                                          "owner-tell@example.test"}


def test_a_request_nobody_decides_expires(server, sealed):
    escrow_id = _claimed(server, sealed, "owner-stale")
    request_id = _ask(server, signed_in(server, "test", "hd-stale+helpdesk"), escrow_id)
    ap = signed_in(server, "test", "ap-stale+admins")
    form = _csrf(ap, server.url + "/helpdesk/requests/" + request_id)  # the page, open
    # helpdesk_pending_hours (168 by default) ago, as if nobody had answered.
    _sql(server, "UPDATE helpdesk_requests SET pending_until = ? WHERE id = ?",
         dt.datetime.utcnow() - dt.timedelta(minutes=1), request_id)
    r = _decide(server, ap, request_id, csrf=form)
    assert r.status_code == 410 and "not decided within 168 hours" in r.text, r.text[:300]
    page = ap.get(server.url + "/helpdesk/requests/" + request_id, timeout=30).text
    assert 'id="state">expired' in page and "No admin decided by" in page
    # Its requester cannot use it either: a refusal that says so, not a 500.
    hd = signed_in(server, "test", "hd-stale+helpdesk")
    r = hd.post(server.url + "/helpdesk/requests/%s/download" % request_id, data={
        "csrf": _csrf(hd, server.url + "/helpdesk?q=" + escrow_id)}, timeout=30)
    assert r.status_code == 410 and "not decided within 168 hours" in r.text, r.text[:300]
    assert _refusals(server, escrow_id) == ["request-expired", "request-expired"]


def test_the_download_is_a_post_with_the_forms_token(server, sealed):
    escrow_id, hd, request_id = _approved(server, sealed, "post")
    page = server.url + "/helpdesk/requests/" + request_id
    # A link (from a mail, another site: SameSite=Lax sends the cookie) takes nothing.
    r = hd.get(page + "/download", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == "/helpdesk/requests/" + request_id
    r = hd.post(page + "/download", data={"csrf": "forged"}, allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "CSRF" in r.text
    assert _sql(server, "SELECT exposed_at FROM escrows WHERE id = ?", escrow_id) == [
        (None,)]
    r = hd.post(page + "/download", data={"csrf": _csrf(hd, page)}, allow_redirects=False,
                timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    assert _sql(server, "SELECT exposed_at FROM escrows WHERE id = ?", escrow_id)[0][0]
    assert _refusals(server, escrow_id) == ["csrf-failed"]


def test_every_refusal_on_a_request_is_audited(server, sealed):
    escrow_id = _claimed(server, sealed, "owner-refusals")
    request_id = _ask(server, signed_in(server, "test", "hd-refusals+helpdesk"), escrow_id)
    ap = signed_in(server, "test", "ap-refusals+admins")
    assert _decide(server, ap, request_id, reason=" ").status_code == 400
    assert _decide(server, ap, request_id, decision="maybe").status_code == 400
    page = server.url + "/helpdesk/requests/" + request_id
    r = ap.post(page + "/decision", data={"csrf": "x", "decision": "approve", "reason": "y"},
                timeout=30)
    assert r.status_code == 403
    assert _decide(server, ap, request_id).status_code == 303
    hd = signed_in(server, "test", "hd-refusals+helpdesk")
    r = hd.post(page + "/custodians", data={"csrf": _csrf(hd, page)}, timeout=30)
    assert r.status_code == 409 and "server mode" in r.text, r.text[:300]
    assert _refusals(server, escrow_id) == ["reason-required", "bad-decision", "csrf-failed",
                                            "wrong-recovery-mode"]


def test_an_approval_stops_when_its_approver_is_no_longer_an_admin(server, sealed):
    escrow_id = _claimed(server, sealed, "owner-gone")
    hd = signed_in(server, "test", "hd-gone+helpdesk")
    request_id = _ask(server, hd, escrow_id)
    ap = signed_in(server, "test", "ap-gone+temp-admins")
    assert _decide(server, ap, request_id).status_code == 303
    # The server's administrator takes group:temp-admins off the setting admins.
    conf = server.data / "zescrow-server.toml"
    conf.write_text(conf.read_text().replace(", 'group:temp-admins'", ""))
    server.kill(signal.SIGTERM)
    server.start()
    hd = signed_in(server, "test", "hd-gone+helpdesk")
    page = server.url + "/helpdesk/requests/" + request_id
    r = hd.post(page + "/download", data={"csrf": _csrf(hd, page)}, allow_redirects=False,
                timeout=30)
    assert r.status_code == 409 and "group:temp-admins" in r.text, r.text[:300]
    assert "no longer" in r.text and r.headers["content-type"].startswith("text/html")
    assert _refusals(server, escrow_id) == ["approver-not-admin"]


def test_without_the_role_an_id_that_exists_and_one_that_does_not_are_refused_alike(
        server, sealed):
    escrow_id = _claimed(server, sealed, "owner-probe")
    hd = signed_in(server, "test", "hd-probe+helpdesk")  # not an admin
    request_id = _ask(server, hd, escrow_id)
    form = _csrf(hd, server.url + "/helpdesk?q=" + escrow_id)
    answers = [hd.post(server.url + "/helpdesk/requests/%s/decision" % rid, data={
        "csrf": form, "decision": "approve", "reason": "x"}, timeout=30)
        for rid in (request_id, "0" * 16)]
    assert [a.status_code for a in answers] == [403, 403], [a.text[:200] for a in answers]
    assert answers[0].text == answers[1].text
    # The owner (told the id by mail, no role) with no form of theirs: the role comes
    # first, so no CSRF refusal tells them anything either.
    owner = signed_in(server, "test", "owner-probe")
    answers = [owner.post(server.url + "/helpdesk/requests/%s/download" % rid,
                          data={"csrf": "x"}, timeout=30) for rid in (request_id, "0" * 16)]
    assert [a.status_code for a in answers] == [403, 403]
    assert "not among this server" in answers[0].text
    assert answers[0].text == answers[1].text
    assert _refusals(server, escrow_id) == ["not-admin", "not-helpdesk"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_request_pending_before_0011_expires_as_a_new_one_would(backend, request, tmp_path):
    """Rows from before the migration: a pending one gets pending_until (created + 168 h),
    not "never"; the rest stays as it was."""
    import os

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    import zescrow_server
    from zescrow_server import db

    url = request.getfixturevalue("postgres").create_database("zescrow_helpdesk_0011") \
        if backend == "postgresql" else "sqlite:///%s" % (tmp_path / "old.db")
    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(
        zescrow_server.__file__), "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0010")
    asked = dt.datetime(2026, 11, 1, 9, 30)
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO escrows (id, created_at, sealed, sha256, size, host, "
                          "username, client_version, upload_token_hash, claim_expires_at, "
                          "verification) VALUES ('%s', :t, :b, '', 1, 'h', 'u', '', '', :t, "
                          "'verified')" % ("e" * 32)), {"t": asked, "b": b"x"})
        for rid, state in (("a" * 16, "pending"), ("b" * 16, "declined")):
            conn.execute(text("INSERT INTO helpdesk_requests (id, escrow_id, created_at, reason, "
                              "requester_provider, requester_subject, requester_display, "
                              "state) VALUES (:id, :e, :t, 'r', 'test', 's', 'd', :s)"),
                         {"id": rid, "e": "e" * 32, "t": asked, "s": state})
    engine.dispose()
    command.upgrade(cfg, "head")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT id, pending_until FROM helpdesk_requests")).all())
    engine.dispose()
    until = rows["a" * 16]
    until = dt.datetime.fromisoformat(until) if isinstance(until, str) else until
    assert until.replace(tzinfo=None) == asked + dt.timedelta(hours=168)
    assert rows["b" * 16] is None


def test_downloads_at_the_same_moment_expose_the_key_once(server, sealed):
    from concurrent.futures import ThreadPoolExecutor

    escrow_id, hd, request_id = _approved(server, sealed, "burst")
    page = server.url + "/helpdesk/requests/" + request_id
    form = {"csrf": _csrf(hd, page)}

    def one(_):
        s = server.session()
        s.cookies.update(hd.cookies)
        return s.post(page + "/download", data=form, allow_redirects=False,
                      timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert answers == [200] * 8, answers
    mine = _events(server, escrow_id)
    exposed = [e for e in mine if e["action"] == "escrow-exposed"]
    assert len(exposed) == 1 and len([e for e in mine if e["action"] ==
                                      "helpdesk-download"]) == 8
    [(at,)] = _sql(server, "SELECT exposed_at FROM escrows WHERE id = ?", escrow_id)
    assert str(at)[:19].replace("T", " ") == exposed[0]["at"][:19].replace("T", " ")


def test_an_unverified_email_is_nobodys_for_the_helpdesk(server, sealed, hostile, smtp):
    """A requester whose provider did not verify the address they gave: the admin with that
    address is still asked, may still decide, and no decision is mailed to it."""
    escrow_id = _claimed(server, sealed, "owner-unverified")
    hostile.behave(claims={"email": "boss@example.test", "email_verified": False})
    hd = signed_in(server, "hostile", "hd-unverified+helpdesk")
    hostile.behave()
    before = len(smtp.messages)
    request_id = _ask(server, hd, escrow_id)
    assert "boss@example.test" in [m["To"] for m in smtp.messages[before:]]
    boss = signed_in(server, "test", "boss")  # boss@example.test, verified: an admin
    r = _decide(server, boss, request_id)
    assert r.status_code == 303, r.text[:300]
    # Asked to decide; never sent the requester's copy of the decision.
    assert [m["Subject"] for m in smtp.messages[before:] if m["To"] == "boss@example.test"] \
        == ["zescrow: a helpdesk request waits for an admin's decision"]
