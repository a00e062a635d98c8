"""zescrowctl setup, escrow, recover and status, as a user runs them, against the real server."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from pam_zescrow import pipeline
from tests.common.ecryptfs_tools import make_setup, real_unwrap
from tests.daemon.conftest import LOGIN, MOUNT, finish


def test_setup_pins_the_key_and_refuses_a_wrong_fingerprint(client, escrow_server, server_pub):
    client.conf.unlink()
    r = client.zescrowctl("setup", escrow_server.url, "--ca-file", escrow_server.ca,
                          "--fingerprint", "0" * 40)
    assert r.returncode == 69 and "not the %s you gave" % ("0" * 40) in r.stderr, r.stderr
    r = client.zescrowctl("setup", escrow_server.url, "--ca-file", escrow_server.ca)
    assert r.returncode == 70 and "--yes" in r.stderr  # no terminal, no --yes: ask first
    assert not client.user_conf.exists()
    r = client.zescrowctl("setup", escrow_server.url, "--ca-file", escrow_server.ca,
                          "--fingerprint", server_pub[1])
    assert r.returncode == 0, r.stderr
    text = client.user_conf.read_text()
    copied = client.user_conf.parent / "ca.pem"  # the CA travels with the config
    assert "fingerprint = %s" % server_pub[1] in text and "ca_file = %s" % copied in text
    assert copied.read_bytes() == open(escrow_server.ca, "rb").read()
    status = json.loads(client.zescrowctl("status", "--format", "json").stdout)
    assert status["server"] == escrow_server.url and status["fingerprint"] == server_pub[1]


def test_setup_with_an_unknown_ca_says_how_to_fix_it(client, escrow_server):
    r = client.zescrowctl("setup", escrow_server.url, "--yes")
    assert r.returncode == 66
    assert "certificate verify failed for 127.0.0.1" in r.stderr and "--ca-file" in r.stderr


def test_escrow_by_hand_uploads_and_prints_the_claim_url(client, escrow_server, tmp_path):
    setup = make_setup(tmp_path / "me", MOUNT, LOGIN)
    r = subprocess.run([os.path.join(os.path.dirname(os.sys.executable), "zescrowctl"),
                        "escrow", "--ecryptfs-dir", str(setup), "--password-fd", "0"],
                       input=LOGIN, capture_output=True, env=client.env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (escrow_server.url + "/claim/").encode() in r.stdout
    assert client.state()["escrowed"]["state"] == "unclaimed" and client.spooled() == []


def test_recover_checks_and_rewraps(tmp_path, real_tools):
    setup = make_setup(tmp_path / "me", MOUNT, LOGIN)
    archive = tmp_path / "escrow.tar.gz"
    archive.write_bytes(pipeline.prepare(str(setup), LOGIN).archive.data)
    cli = os.path.join(os.path.dirname(os.sys.executable), "zescrowctl")
    r = subprocess.run([cli, "recover", str(archive), "--ecryptfs-dir", str(setup)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "matches its Private.sig" in r.stdout and "It is the key of" in r.stdout
    assert "ecryptfs-recover-private" in r.stdout and MOUNT.decode() not in r.stdout
    r = subprocess.run([cli, "recover", str(archive), "--show-passphrase"], capture_output=True,
                       text=True)
    assert "MOUNT passphrase: " + MOUNT.decode() in r.stdout
    new = tmp_path / "wrapped-passphrase"
    r = subprocess.run([cli, "recover", str(archive), "--rewrap", str(new), "--password-fd", "0"],
                       input=b"brand new password\n", capture_output=True)
    assert r.returncode == 0, r.stderr
    assert real_unwrap(new, b"brand new password") == (0, MOUNT + b"\n", b"")
    archive.write_bytes(b"not an archive")
    r = subprocess.run([cli, "recover", str(archive)], capture_output=True, text=True)
    assert r.returncode == 40 and "not a usable escrow archive" in r.stderr


@pytest.mark.slow
def test_status_in_every_state(client, key_home, tls_dir, server_pub, tmp_path):
    """nothing → pending → failed with its cause → unclaimed → claimed, from real runs.

    With ZESCROW_TESTONLY_GALLERY=FILE the outputs are written there (make gallery
    copies them into docs/zescrowctl.md)."""
    from tests.common.servers import OidcProvider, ZescrowServer, free_port
    from tests.server.browser import Browser, claim

    port = free_port()
    oidc = OidcProvider(["https://127.0.0.1:%d/auth/test/callback" % port])
    server = ZescrowServer(port, key_home, tls_dir, rate_limit_per_minute=0, oidc=oidc)
    gallery = []

    def status(title):
        r = client.zescrowctl("status")
        assert r.returncode == 0, r.stderr
        gallery.append((title, r.stdout))
        return r.stdout

    # The test runs as root, whom zescrow leaves out by default: let this
    # machine's policy take uid 0, and give root a home with an eCryptfs key.
    client.conf.write_text(client.conf.read_text() + "[policy]\nmin_uid = 0\n")
    home = Path(os.environ["HOME"])
    home.mkdir(exist_ok=True)
    (home / ".ecryptfs").symlink_to(make_setup(tmp_path / "root", MOUNT, LOGIN))
    try:
        client.point_at(server.url)
        assert "nothing escrowed yet" in status("Nothing escrowed yet")
        client.spool_archive()
        assert "waiting for upload" in status("An archive waits in the spool")
        server.kill()
        proc = client.zescrowd("--no-notify")
        from tests.daemon.conftest import wait_for

        wait_for(lambda: client.state().get("last_error"), what="a failure")
        proc.kill()
        proc.communicate()
        assert "cannot reach the escrow server" in status("The server cannot be reached")
        server.start()
        finish(client.zescrowd("--no-notify"), timeout=60)
        text = status("Uploaded, waiting for the claim")
        assert "not claimed yet" in text
        browser = Browser(os.path.join(tls_dir, "ca.pem"))
        try:
            claim(browser, client.state()["escrowed"]["claim_url"], "erin")
        finally:
            browser.close()
        assert "claimed on" in status("Claimed")
    finally:
        server.close()
        oidc.close()
    target = os.environ.get("ZESCROW_TESTONLY_GALLERY")
    if target:
        Path(target).write_text(json.dumps(gallery, indent=1))
