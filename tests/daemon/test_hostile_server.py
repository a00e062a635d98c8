"""zescrowd and zescrowctl against a server that lies, stalls or floods (#10).

A server may be compromised, misconfigured, or not the server at all (a
proxy, a captive portal): its words must not reach the desktop, the
browser or the terminal unchecked, and no answer may crash the daemon,
hold it forever, or cost an archive that was not acknowledged (S8).
"""

import json
import os

import pytest

from tests.common.hostile import (MISSING, HostileServer, created, escrow_status, json_answer,
                                  raw_answer, trickle)
from tests.daemon.conftest import finish, wait_for

ESC = "\x1b"


@pytest.fixture
def hostile(client, tls_dir, server_pub):
    server = HostileServer(tls_dir, server_pub[1])
    client.point_at(server.url)
    yield server
    server.close()


def recorder(client):
    """A stand-in for xdg-open first on PATH: it writes down what it was asked to open."""
    folder = client.base / "bin"
    folder.mkdir(exist_ok=True)
    opened = client.base / "opened"
    (folder / "xdg-open").write_text("#!/bin/sh\nprintf '%%s\\n' \"$@\" >> %s\n" % opened)
    os.chmod(folder / "xdg-open", 0o755)
    return {"PATH": "%s:%s" % (folder, os.environ["PATH"])}, opened


def upload_with(client, hostile, answer):
    hostile.on("POST", "/api/v1/escrows", answer)
    client.spool_archive()
    code, out = finish(client.zescrowd("--no-notify"))
    assert code == 0, out
    return out


# --- the claim URL: only https:// on the pinned server's own origin ----------

HOSTILE_CLAIM_URLS = {
    "a file": "file:///etc/passwd",
    "javascript": "javascript:alert(document.cookie)",
    "an option": "--help",
    "a desktop file on a share": "smb://evil.example/share/x.desktop",
    "a look-alike host": "https://127.0.0.1.evil.example:{port}/claim/tok",
    "another host": "https://evil.example/claim/tok",
    "plain http": "http://127.0.0.1:{port}/claim/tok",
    "another port": "https://127.0.0.1:1/claim/tok",
    "a user name": "https://evil.example@127.0.0.1:{port}/claim/tok",
    "a backslash": "https://evil.example\\@127.0.0.1:{port}/claim/tok",
    "a terminal link": "https://127.0.0.1:{port}/claim/tok\x1b]8;;https://evil.example/\x1b\\",
    "a new line": "https://127.0.0.1:{port}/claim/tok\nhttps://evil.example/",
    "markup": '<a href="https://evil.example/">https://127.0.0.1:{port}/claim/tok</a>',
}


@pytest.mark.parametrize("kind", list(HOSTILE_CLAIM_URLS))
def test_a_claim_url_off_the_servers_origin_is_refused_and_never_opened(client, hostile, kind):
    bad = HOSTILE_CLAIM_URLS[kind].format(port=hostile.port)
    out = upload_with(client, hostile, created(claim_url=bad))
    state = client.state()
    record = state["escrowed"]  # the server acknowledged the archive: it is escrowed (S8)
    assert record["claim_url"] is None and record["claim_url_refused"]["code"] == \
        "claim-url-refused", record
    assert "evil" not in json.dumps(state) and "/etc/passwd" not in json.dumps(state)
    assert "evil" not in out and ESC not in out
    origin = hostile.url + "/"
    status = client.zescrowctl("status", "--offline")
    assert status.returncode == 0, status.stderr
    assert origin in status.stdout and "evil" not in status.stdout and ESC not in status.stdout
    assert json.loads(client.zescrowctl("status", "--json", "--offline").stdout)[
        "escrow"]["claim_url"] is None
    env, opened = recorder(client)
    claim = client.zescrowctl("claim", env=env)
    assert claim.returncode == 75 and origin in claim.stderr, claim
    assert "evil" not in claim.stdout + claim.stderr and not opened.exists()


def test_a_claim_url_in_an_old_state_file_is_checked_again(client, hostile):
    upload_with(client, hostile, created())
    path = client.user_dir / "state.json"
    current = json.loads(path.read_text())
    current["escrowed"]["claim_url"] = "file:///etc/passwd"  # as a version before the check kept it
    path.write_text(json.dumps(current))
    env, opened = recorder(client)
    claim = client.zescrowctl("claim", env=env)
    assert claim.returncode == 75 and not opened.exists(), claim
    status = client.zescrowctl("status", "--offline")
    assert "/etc/passwd" not in status.stdout and hostile.url + "/" in status.stdout


def test_the_notification_escapes_markup_and_opens_only_a_checked_url(client, hostile, desktop):
    env, opened = recorder(client)
    env.update(desktop.env)
    good = "https://127.0.0.1:%d/claim/tok?a=1&b=2" % hostile.port  # & is markup
    hostile.on("POST", "/api/v1/escrows", created(claim_url=good))
    client.spool_archive()
    proc = client.zescrowd("--follow-seconds", "0", env=env)
    wait_for(lambda: desktop.displayed() == 1, what="the claim notification")
    desktop.dunstctl("action", "0")
    code, out = finish(proc)
    assert code == 0, out
    assert opened.read_text() == good + "\n"  # the URL itself, not its markup
    bad = '<a href="https://evil.example/">https://127.0.0.1:%d/claim/x</a>' % hostile.port
    hostile.on("POST", "/api/v1/escrows", created(claim_url=bad))
    client.spool_archive()
    proc = client.zescrowd("--follow-seconds", "0", env=env)
    wait_for(lambda: desktop.displayed() == 1, what="the notification of the refusal")
    desktop.dunstctl("action", "0")
    code, out = finish(proc)
    assert code == 0, out
    desktop.dunstctl("close-all")
    bodies = [n["body"]["data"] for n in json.loads(desktop.dunstctl("history").stdout)["data"][0]]
    assert any("&amp;b=2" in b for b in bodies), bodies
    assert not any("<" in b or "evil" in b for b in bodies), bodies
    assert any(hostile.url + "/" in b for b in bodies), bodies
    assert opened.read_text() == good + "\n"  # nothing more was opened


def test_the_servers_words_reach_the_terminal_escaped(client, hostile):
    upload_with(client, hostile, created())
    words = "\x1b]0;owned\x07\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\\r\x1b[2J"
    hostile.on("GET", "/api/v1/escrows/", escrow_status(verification="failed",
                                                        verification_error=words))
    status = client.zescrowctl("status")
    assert status.returncode == 0, status.stderr
    assert "FAILED" in status.stdout and ESC not in status.stdout and "\r" not in status.stdout
    assert "\\x1b]0;owned" in status.stdout
    hostile.on("POST", "/api/v1/escrows", json_answer(422, {"error": words, "message": words}))
    client.spool_archive()
    code, out = finish(client.zescrowd("--no-notify"))
    assert ESC not in out
    status = client.zescrowctl("status", "--offline")
    assert "refused" in status.stdout and ESC not in status.stdout, status.stdout


# --- answers that are not what the contract says ---------------------------

MALFORMED = {
    "10 MB": raw_answer(201, b'{"id": "' + b"a" * (10 << 20) + b'"}'),
    "not JSON": raw_answer(201, b"<html>Welcome to the hotel wifi</html>", "text/html"),
    "a JSON list": raw_answer(201, b'["id", "claim_url"]'),
    "deep JSON": raw_answer(201, b"[" * 30000 + b"]" * 30000),
    "no id": created(id=MISSING),
    "an id that is a path": created(id="../../admin"),
    "a claim URL that is not text": created(claim_url=42),
    "a token that breaks a header": created(upload_token="t\r\nX-Evil: 1"),
    "no expiry": created(claim_expires_at=MISSING),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_answer_is_a_recorded_error_with_a_backoff(client, hostile, kind):
    hostile.on("POST", "/api/v1/escrows", MALFORMED[kind])
    client.spool_archive()
    proc = client.zescrowd("--no-notify")
    try:
        wait_for(lambda: client.state().get("last_error") or proc.poll() is not None,
                 what="a recorded error")
    finally:
        proc.kill()
        out, _ = proc.communicate()
    assert "unexpected error" not in out and "Traceback" not in out, out
    err = client.state()["last_error"]
    assert err["code"] == "server-answer-invalid" and err["next_retry_at"], err
    assert "escrowed" not in client.state() and len(client.spooled()) == 1  # kept (S8)


STATUS_ANSWERS = {
    "a JSON list": raw_answer(200, b"[]"),
    "not JSON": raw_answer(200, b"<html>", "text/html"),
    "an unknown state": escrow_status(state="pwned"),
    "no verification": escrow_status(verification=MISSING),
    "10 MB": raw_answer(200, b" " * (10 << 20)),
}


@pytest.mark.parametrize("kind", list(STATUS_ANSWERS))
def test_status_survives_a_malformed_claim_status_answer(client, hostile, kind):
    upload_with(client, hostile, created())
    hostile.on("GET", "/api/v1/escrows/", STATUS_ANSWERS[kind])
    status = client.zescrowctl("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "not claimed yet" in status.stdout  # what it knew
    assert "could not ask the server" in status.stdout and "cannot use" in status.stdout
    report = json.loads(client.zescrowctl("status", "--json").stdout)
    assert report["refresh_error"]["code"] == "server-answer-invalid"
    assert client.state()["escrowed"]["state"] == "unclaimed"


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_server_that_trickles_its_answer_hits_the_deadline(client, hostile, where):
    hostile.on("POST", "/api/v1/escrows", trickle(hostile, where, every=0.5))
    client.spool_archive()
    proc = client.zescrowd("--no-notify", env={"ZESCROW_TESTONLY_HTTP_DEADLINE": "2"})
    try:
        wait_for(lambda: client.state().get("last_error"), timeout=15, what="the deadline")
    finally:
        proc.kill()
        proc.communicate()
    err = client.state()["last_error"]
    assert err["code"] == "server-too-slow" and "2 s" in err["message"], err
    assert err["next_retry_at"] and len(client.spooled()) == 1
