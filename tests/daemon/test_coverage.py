"""Coverage (#13): an enrolled machine's signed report, judged by the server from real
logins and real setup changes. Real server (enrolment required), real PAM logins,
real zescrowctl report run as root, the real ecryptfs-utils wrap tool."""

import csv
import io
import json
import os
import re
import subprocess
import time

import pytest

from pam_zescrow import ecryptfs_crypto as crypto
from tests.common.ecryptfs_tools import real_wrap
from tests.daemon.conftest import wait_for
# The same server (enrolment required) and throwaway machine as the enrolment tests.
from tests.daemon.test_enrolment import (SPOOLED, _admin, _setup, _token,  # noqa: F401
                                         required_server, world)

pytestmark = [pytest.mark.root, pytest.mark.slow]

PASSWORD, MOUNT, NEW_MOUNT = b"coverage test password", b"c0" * 16, b"c1" * 16


def _report(world, *extra):
    r = world.run(None, "report", "--format", "json", *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return {u["user"]: u for u in json.loads(r.stdout)["users"]}


def _login_and_spool(world, user):
    before = world.machine.log().count(SPOOLED)
    proc = world.machine.pamtester(world.machine.service(), user, PASSWORD)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 30
    while world.machine.log().count(SPOOLED) == before:
        assert time.monotonic() < deadline and "user %s: not escrowed" % user not in \
            world.machine.log(), world.machine.log()
        time.sleep(0.05)


def _escrow(world, user):
    """Log in (the hook spools), upload as the user (zescrowctl retry): the escrow's id."""
    _login_and_spool(world, user)
    up = world.run(user, "retry")
    assert up.returncode == 0, up.stdout + up.stderr
    return json.loads((world.machine.state_dir / user / "state.json").read_text())[
        "escrowed"]["id"]


def _coverage(server, *args):
    r = _admin(server, "coverage", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _until_verified(world, server, user, escrow_id):
    """The server checks an upload in the background; the row follows its escrow."""
    deadline = time.monotonic() + 60
    while True:
        rows = {(r["user"], r["state"]) for r in csv.DictReader(io.StringIO(
            _coverage(server, "--csv")))}
        if (user, "verified") in rows:
            return
        assert time.monotonic() < deadline, rows
        time.sleep(0.5)


def _new_mount_passphrase(world, user, mount, password):
    """What ecryptfs-setup-private --force leaves for a new key: wrapped-passphrase
    wrapped anew by the real tool, and Private.sig with the new key's signatures."""
    store = world.machine.ecryptfs_store(user)
    (store / "wrapped-passphrase").unlink()
    real_wrap(store / "wrapped-passphrase", mount, password)
    (store / "Private.sig").write_text("".join(crypto.signature(salt, mount) + "\n" for salt in (
        crypto.DEFAULT_SALT, crypto.FNEK_SALT)))
    subprocess.run(["chown", "-R", "%s:%s" % (user, user), str(store)], check=True)


def test_reports_follow_real_logins_and_setup_changes(world, required_server):
    r = _setup(world, "--token", _token(required_server))
    assert r.returncode == 0, r.stdout + r.stderr
    host_id = re.search(r"Enrolled this machine as host ([0-9a-f]{16})", r.stdout).group(1)
    alice = world.machine.add_user(PASSWORD, MOUNT)
    bob = world.machine.add_user(PASSWORD, MOUNT)
    plain = world.machine.add_user(PASSWORD)  # no encrypted home: not in the report
    # Nobody has logged in: both encrypted homes are missing.
    dry = world.run(None, "report", "--dry-run")
    sent = json.loads(dry.stdout)
    assert dry.returncode == 0 and sent["host"] == host_id, dry.stdout + dry.stderr
    ours = {u["user"]: u for u in sent["users"] if u["user"] in (alice, bob, plain)}
    assert set(ours) == {alice, bob}
    assert ours[alice]["escrow"] is None and re.fullmatch(r"[0-9a-f]{64}", ours[alice]["digest"])
    assert MOUNT.hex() not in dry.stdout and MOUNT.decode() not in dry.stdout
    judged = _report(world)
    assert judged[alice]["state"] == judged[bob]["state"] == "missing", judged
    # Alice logs in and zescrowd uploads: verified once the server has checked it.
    first = _escrow(world, alice)
    _report(world)
    _until_verified(world, required_server, alice, first)
    # A new login password (ecryptfs-rewrap-passphrase: the same key, wrapped anew)
    # changes nothing that matters: the escrow still opens her files.
    store = world.machine.ecryptfs_store(alice)
    (store / "wrapped-passphrase").unlink()
    real_wrap(store / "wrapped-passphrase", MOUNT, b"a new login password")
    subprocess.run(["chown", alice, str(store / "wrapped-passphrase")], check=True)
    assert _report(world)[alice]["state"] == "verified"
    # A new mount passphrase, re-wrapped: the escrow is stale until her next login.
    _new_mount_passphrase(world, alice, NEW_MOUNT, PASSWORD)
    stale = _report(world)[alice]
    assert stale["state"] == "stale" and first in stale["reason"], stale
    second = _escrow(world, alice)
    assert second != first
    assert _report(world)[alice]["state"] in ("pending", "verified")
    _until_verified(world, required_server, alice, second)
    # Bob's wrapped-passphrase was made with another password than his login's:
    # his login succeeds, the escrow fails, and the report says so.
    _new_mount_passphrase(world, bob, MOUNT, b"not his login password")
    proc = world.machine.pamtester(world.machine.service(), bob, PASSWORD)
    assert proc.returncode == 0, proc.stderr
    world.machine.wait_for_log("user %s: not escrowed" % bob)
    bob_state = world.machine.state_dir / bob / "state.json"  # written just after the log line
    wait_for(lambda: bob_state.exists() and json.loads(bob_state.read_text()).get("last_error"),
             what="bob's last error in state.json")
    failed = _report(world)[bob]
    assert failed["state"] == "failed" and "wrong-password" in failed["reason"], failed
    # The admin's view: a summary, who needs attention, and every row as CSV.
    text = _coverage(required_server)
    assert re.search(r"\d+ enrolled hosts?; ", text) and "failed" in text and bob in text, text
    assert alice not in text  # verified users are not listed as needing attention
    rows = list(csv.DictReader(io.StringIO(_coverage(required_server, "--csv"))))
    mine = {r["user"]: r for r in rows if r["host"] == host_id}
    assert mine[alice]["state"] == "verified" and mine[alice]["escrow"] == second
    assert mine[bob]["state"] == "failed"
    assert _coverage(required_server, "--state", "failed").count(bob) == 1
    # A revoked host's reports are refused, with what to do.
    assert _admin(required_server, "host", "revoke", host_id).returncode == 0
    refused = world.run(None, "report")
    assert refused.returncode == 29 and "revoked" in refused.stderr, refused.stderr
    assert "enrol it again" in refused.stderr or "--token" in refused.stderr


def test_report_needs_root_and_an_enrolled_host(world, required_server):
    world.enrol()  # set up without a token: no host key, no host id
    r = world.run(None, "report")
    assert r.returncode == 28 and "names no enrolled host" in r.stderr, r.stderr
    user = world.machine.add_user(PASSWORD, MOUNT)
    r = world.run(user, "report")
    assert r.returncode == 28 and "only root" in r.stderr, r.stderr


def test_an_escrow_the_helpdesk_recovered_is_told_to_its_user_until_a_new_key(
        world, required_server):
    import sqlite3

    from tests.daemon.conftest import Desktop

    assert _setup(world, "--token", _token(required_server)).returncode == 0
    user = world.machine.add_user(PASSWORD, MOUNT)
    escrow_id = _escrow(world, user)
    # What the helpdesk's download leaves on the server (its flow: tests/server/test_helpdesk.py).
    with sqlite3.connect(required_server.data / "zescrow.db") as db:
        db.execute("UPDATE escrows SET exposed_at = '2026-12-03 09:00:00.000000', "
                   "exposed_reason = 'locked out <b>ticket 42</b>' WHERE id = ?", (escrow_id,))
    text = world.run(None, "report")
    assert text.returncode == 0 and "recovered by the helpdesk" in text.stdout, text.stdout
    recorded = json.loads((world.machine.state_dir / user / "state.json").read_text())["exposed"]
    assert recorded["escrow"] == escrow_id and recorded["notified"] is False
    status = world.run(user, "status", "--offline")
    assert "EXPOSED:" in status.stdout and escrow_id in status.stdout, status.stdout
    assert "rekey.md" in status.stdout and "login password does not change" in status.stdout
    # zescrowd tells the user once, on their own desktop.
    home = str(world.machine.base / user / "home")
    desktop = Desktop(user=user, home=home)
    try:
        env = {"PATH": os.environ["PATH"], "ZESCROW_CONF": str(world.machine.conf),
               "ZESCROW_STATE_DIR": str(world.machine.state_dir), "HOME": home, "USER": user,
               "LOGNAME": user, **desktop.env}
        cmd = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups",
               os.path.join(os.path.dirname(world.run.__globals__["CLI"]), "zescrowd")]
        for _ in range(2):  # the second run shows nothing more
            subprocess.run(cmd, env=env, capture_output=True, timeout=60, check=True)
        desktop.dunstctl("close-all")
        shown = json.loads(desktop.dunstctl("history").stdout)["data"][0]
        told = [n for n in shown if n["summary"]["data"] == "Your helpdesk recovered your "
                "encryption key"]
        assert len(told) == 1, shown
        assert "locked out &lt;b&gt;ticket 42&lt;/b&gt;" in told[0]["body"]["data"], told
    finally:
        desktop.close()
    assert json.loads((world.machine.state_dir / user / "state.json").read_text())[
        "exposed"]["notified"]
    # A new key, escrowed at the next login: the exposure is over.
    _new_mount_passphrase(world, user, NEW_MOUNT, PASSWORD)
    assert _escrow(world, user) != escrow_id
    assert "exposed" not in json.loads(
        (world.machine.state_dir / user / "state.json").read_text())
    assert "EXPOSED" not in world.run(user, "status", "--offline").stdout
