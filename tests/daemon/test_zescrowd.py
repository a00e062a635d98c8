"""zescrowd: upload, record, retry, refuse, notify, click through — against real parts."""

import json
import os
import socket
import subprocess
import tempfile
import time

import pytest

from tests.common.servers import ZescrowServer, free_port
from tests.daemon.conftest import FakeFaultyServer, finish, wait_for


def test_uploads_records_and_deletes_then_exits(client, escrow_server):
    entry = client.spool_archive()
    code, out = finish(client.zescrowd("--no-notify"))
    assert code == 0, out
    assert "zescrowd starting" in out and "zescrowd idle, exiting" in out
    record = client.state()["escrowed"]
    assert record["claim_url"].startswith(escrow_server.url + "/claim/")
    assert record["sha256"] == entry.meta["sha256"] and record["state"] == "unclaimed"
    assert client.spooled() == [] and not os.path.exists(entry.sealed_path)
    assert record["claim_url"] in out  # headless: the URL is in the log and in status


def test_server_down_at_first_then_up(client, key_home, tls_dir, server_pub):
    port = free_port()
    client.point_at("https://127.0.0.1:%d" % port)
    client.spool_archive()
    proc = client.zescrowd("--no-notify")
    wait_for(lambda: (client.state().get("last_error") or {}).get("code") ==
             "server-unreachable", what="a recorded failure")
    assert "connection refused" in client.state()["last_error"]["message"]
    assert len(client.spooled()) == 1  # kept
    server = ZescrowServer(port, key_home, tls_dir, rate_limit_per_minute=0)
    try:
        code, out = finish(proc, timeout=60)
        assert code == 0, out
        assert client.spooled() == [] and client.state()["escrowed"]["id"]
        assert "retry" in out
    finally:
        server.close()


@pytest.mark.parametrize("mode, code, words", [
    ("500", "server-error", "failed (HTTP 500): the disk is on fire"),
    ("lie", "checksum-mismatch", "did not receive what was sent"),
])
def test_a_faulty_server_is_retried_and_the_archive_kept(client, tls_dir, server_pub, mode,
                                                         code, words):
    """A server answering 500s, or a 201 with the wrong sha256: failures, retried."""
    fake = FakeFaultyServer(tls_dir, server_pub[1], mode)
    try:
        client.point_at(fake.url)
        client.spool_archive()
        proc = client.zescrowd("--no-notify")
        wait_for(lambda: fake.posts >= 3, what="three attempts")
        proc.kill()
        proc.communicate()
        err = client.state()["last_error"]
        assert err["code"] == code and words in err["message"]
        assert err["next_retry_at"] and len(client.spooled()) == 1
        assert "escrowed" not in client.state()
        status = client.zescrowctl("status", "--offline")
        assert words in status.stdout and "next retry" in status.stdout
    finally:
        fake.close()


def test_tls_with_an_unknown_ca_names_the_cause_and_the_fix(client):
    text = client.conf.read_text()
    client.conf.write_text("\n".join(l for l in text.splitlines() if not l.startswith("ca_file")))
    client.spool_archive()
    proc = client.zescrowd("--no-notify")
    wait_for(lambda: client.state().get("last_error"), what="a failure")
    proc.kill()
    proc.communicate()
    err = client.state()["last_error"]
    assert err["code"] == "tls-failed"
    assert "certificate verify failed for 127.0.0.1" in err["message"]
    assert "self-signed certificate" in err["message"] and "ca_file" in err["hint"]
    assert len(client.spooled()) == 1


def test_a_changed_server_key_is_refused_and_not_retried(client, other_key):
    # The archive was sealed for a key whose fingerprint the server no longer publishes.
    client.spool_archive(seal_fingerprint=other_key.fingerprint, key_file=other_key.public_path)
    code, out = finish(client.zescrowd("--no-notify"))
    assert code == 0, out  # nothing it can do: it stops, the archive waits
    err = client.state()["last_error"]
    assert err["code"] == "server-key-changed" and other_key.fingerprint in err["message"]
    assert "zescrowctl setup" in err["hint"] and len(client.spooled()) == 1
    assert list(client.state()["uploads"].values())[0]["permanent"] is True


def test_sd_notify_ready_status_stopping(client):
    client.spool_archive()
    sock_path = os.path.join(tempfile.mkdtemp(), "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(30)
    try:
        code, out = finish(client.zescrowd("--no-notify", env={"NOTIFY_SOCKET": sock_path}))
        assert code == 0, out
        messages = []
        sock.settimeout(0.5)
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                break
    finally:
        sock.close()
    assert messages[0] == "READY=1" and messages[-1] == "STOPPING=1"
    assert any(m.startswith("STATUS=uploading") for m in messages)


def test_the_notification_shows_and_its_click_opens_the_claim_url(client, desktop, escrow_server):
    recorder = client.base / "bin"
    recorder.mkdir()
    opened = client.base / "opened"
    (recorder / "xdg-open").write_text("#!/bin/sh\necho \"$1\" >> %s\n" % opened)
    os.chmod(recorder / "xdg-open", 0o755)
    client.spool_archive()
    env = dict(desktop.env, PATH="%s:%s" % (recorder, os.environ["PATH"]))
    started = time.monotonic()
    proc = client.zescrowd("--follow-seconds", "3", "--poll-seconds", "0.5", env=env)
    wait_for(lambda: desktop.displayed() == 1, what="the notification on dunst")
    shown_after = time.monotonic() - started
    url = client.state()["escrowed"]["claim_url"]
    assert desktop.dunstctl("action", "0").returncode == 0  # a click on it
    wait_for(lambda: opened.exists() and url in opened.read_text(), what="xdg-open")
    code, out = finish(proc)
    assert code == 0, out
    assert "opening the claim URL" in out and client.state()["escrowed"].get("clicked_at")
    # While following, it asked the server: the escrow is verified by now.
    assert client.state()["escrowed"]["verification"] in ("verified", "pending")
    assert shown_after < 10


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    import shutil
    import sys

    from tests.conftest import ROOT, require

    require(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    units = tmp_path / "units"
    units.mkdir()
    zescrowd = os.path.join(os.path.dirname(sys.executable), "zescrowd")
    for name in ("zescrowd.service", "zescrowd.path", "zescrowd.timer"):
        text = (ROOT / "systemd" / name).read_text().replace("/usr/bin/zescrowd", zescrowd)
        (units / name).write_text(text)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    proc = subprocess.run(["systemd-analyze", "verify", "--user"] + [
        str(units / n) for n in ("zescrowd.service", "zescrowd.path", "zescrowd.timer")],
        capture_output=True, text=True, env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)))
    problems = [l for l in (proc.stdout + proc.stderr).splitlines()
                if "zescrowd" in l and "Failed to" not in l]
    assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr


def test_an_unreadable_ca_file_is_a_clear_error_not_a_crash(client, tmp_path):
    text = client.conf.read_text()
    client.conf.write_text(text.replace(text.split("ca_file = ")[1].split("\n")[0],
                                        str(tmp_path / "no-such-ca.pem")))
    client.spool_archive()
    proc = client.zescrowd("--no-notify")
    wait_for(lambda: client.state().get("last_error"), what="a failure")
    proc.kill()
    out, _ = proc.communicate()
    err = client.state()["last_error"]
    assert err["code"] == "tls-failed" and "cannot use the CA file" in err["message"]
    assert "Traceback" not in out and len(client.spooled()) == 1


def test_without_a_notification_server_it_logs_and_leaves_the_url(client):
    client.spool_archive()  # no DBUS_SESSION_BUS_ADDRESS in client.env: headless, or ssh
    code, out = finish(client.zescrowd())
    assert code == 0, out
    assert "no desktop notifications" in out and "zescrowctl status" in out
    url = client.state()["escrowed"]["claim_url"]
    status = json.loads(client.zescrowctl("status", "--json", "--offline").stdout)
    assert status["escrow"]["claim_url"] == url and status["escrow"]["state"] == "unclaimed"


def test_it_reminds_before_the_claim_window_ends(client, desktop):
    client.spool_archive()
    finish(client.zescrowd("--no-notify"))
    path = client.user_dir / "state.json"
    current = json.loads(path.read_text())
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    current["escrowed"]["claim_expires_at"] = soon  # one hour left, as the server would say
    path.write_text(json.dumps(current))
    proc = client.zescrowd(env=desktop.env)
    wait_for(lambda: desktop.displayed() == 1, what="the reminder")
    desktop.dunstctl("close-all")
    code, out = finish(proc)
    assert code == 0 and client.state()["escrowed"]["reminded_at"]
    proc = client.zescrowd(env=desktop.env)  # once is enough
    code, out = finish(proc)
    assert code == 0 and desktop.displayed() == 0


@pytest.mark.slow
def test_after_the_click_it_follows_the_claim_and_says_when_it_is_done(
        client, desktop, key_home, tls_dir):
    from tests.common.servers import OidcProvider
    from tests.server.browser import Browser, claim

    port = free_port()
    oidc = OidcProvider(["https://127.0.0.1:%d/auth/test/callback" % port])
    server = ZescrowServer(port, key_home, tls_dir, rate_limit_per_minute=0, oidc=oidc)
    browser = None
    try:
        client.point_at(server.url)
        recorder = client.base / "bin"
        recorder.mkdir()
        (recorder / "xdg-open").write_text("#!/bin/sh\nexit 0\n")
        os.chmod(recorder / "xdg-open", 0o755)
        client.spool_archive()
        env = dict(desktop.env, PATH="%s:%s" % (recorder, os.environ["PATH"]))
        proc = client.zescrowd("--follow-seconds", "120", "--poll-seconds", "0.5", env=env)
        wait_for(lambda: desktop.displayed() == 1, what="the claim notification")
        desktop.dunstctl("action", "0")
        wait_for(lambda: desktop.displayed() == 0, what="the bubble to go")
        # The user claims in the browser that xdg-open would have opened.
        browser = Browser(os.path.join(tls_dir, "ca.pem"))
        claim(browser, client.state()["escrowed"]["claim_url"], "frank")
        code, out = finish(proc, timeout=60)
        assert code == 0, out
        assert "is claimed" in out and client.state()["escrowed"]["state"] == "claimed"
        desktop.dunstctl("close-all")  # dunstctl history lists closed notifications only
        assert "Your key backup is claimed" in desktop.dunstctl("history").stdout
    finally:
        if browser:
            browser.close()
        server.close()
        oidc.close()
