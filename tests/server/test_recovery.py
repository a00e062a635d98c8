"""Recovery in custodians mode (#12), end to end with real parts: the real server
in custodians mode, the real OIDC provider, Chromium for the owner's request,
three custodians with their own gpg homes who run `zescrowctl custodian` as
separate local users, and `zescrowctl recover --request` on the requesting
side. k = 2 of n = 3."""

import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pam_zescrow import pipeline, seal
from tests.common.ecryptfs_tools import make_setup
from tests.common.gpgkeys import make_custodian_key
from tests.common.pam import fresh_uid
from tests.common.servers import ZescrowServer
from tests.conftest import require
from tests.server.browser import CHROMIUM, Browser, oidc_login
from tests.server.conftest import PORTS, upload
from tests.server.login import claim, signed_in

pytestmark = [pytest.mark.slow, pytest.mark.root]

MOUNT, LOGIN = b"5eed" * 8, b"recovery test login"
TYPE = "application/vnd.zescrow.custodians+json"
ZESCROWCTL = os.path.join(os.path.dirname(sys.executable), "zescrowctl")


@pytest.fixture(scope="module")
def custodians(tmp_path_factory, tls_dir):
    """Three custodians: each a local user with their key in their own gpg home (and
    the test CA, which they give zescrowctl with --ca-file)."""
    require(os.geteuid() == 0, "the custodians are local users: needs root")
    folder = tmp_path_factory.mktemp("custodians")
    keys = [make_custodian_key(str(folder), "custodian %s" % n) for n in "abc"]
    combined = folder / "custodians.asc"
    combined.write_bytes(b"".join(open(k.public_path, "rb").read() for k in keys))
    people = []
    try:
        for key in keys:
            name = "zc" + secrets.token_hex(4)
            home = Path(tempfile.mkdtemp(prefix="zescrow-custodian-"))
            subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell",
                            "/bin/sh", "--uid", str(fresh_uid()), name], check=True,
                           capture_output=True)
            gnupg = home / "gnupg"
            shutil.copytree(key.home, gnupg, ignore=shutil.ignore_patterns("S.*"))
            subprocess.run(["chown", "-R", "%s:%s" % (name, name), str(home)], check=True)
            shutil.copy(os.path.join(tls_dir, "ca.pem"), home / "ca.pem")
            os.chmod(home / "ca.pem", 0o644)
            os.chmod(home, 0o700)
            people.append({"user": name, "home": home, "gnupg": gnupg, "key": key})
        yield keys, combined, people
    finally:
        for p in people:
            subprocess.run(["runuser", "-u", p["user"], "--", "gpgconf", "--homedir",
                            str(p["gnupg"]), "--kill", "all"], capture_output=True)
            subprocess.run(["pkill", "-u", p["user"]], capture_output=True)
            subprocess.run(["userdel", p["user"]], capture_output=True)
            shutil.rmtree(p["home"], ignore_errors=True)
        for key in keys:
            key.close()


@pytest.fixture(scope="module")
def blind(key_home, tls_dir, oidc, smtp, custodians):
    _, combined, _ = custodians
    srv = ZescrowServer(PORTS[16], key_home, tls_dir, workers=1, oidc=oidc,
                        smtp_host="127.0.0.1", smtp_port=smtp.port, rate_limit_per_minute=0,
                        init_args=["--custodians", str(combined), "--threshold", "2"])
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def escrow(custodians, tmp_path_factory):
    """What the hook spools in custodians mode, and the eCryptfs folder it came from."""
    keys, combined, _ = custodians
    folder = tmp_path_factory.mktemp("owner")
    setup = make_setup(folder, MOUNT, LOGIN)
    prepared = pipeline.prepare(str(setup), LOGIN)
    sealed = seal.seal_to_custodians(prepared.archive.data, str(combined),
                                     [k.fingerprint for k in keys], 2, {"user": "alice", "host": "testbox"})
    return sealed, setup


@pytest.fixture(scope="module")
def browser(tls_dir):
    require(os.path.exists(CHROMIUM), "Debian's chromium is not installed")
    b = Browser(os.path.join(tls_dir, "ca.pem"))
    yield b
    b.close()


@pytest.fixture
def requester_home():
    """The requesting machine's HOME: short (gpg's socket paths must be), removed after."""
    home = Path(tempfile.mkdtemp(prefix="zr-"))
    yield home
    for agent_home in (home / "data" / "zescrow" / "recovery").glob("*"):
        subprocess.run(["gpgconf", "--homedir", str(agent_home), "--kill", "all"],
                       capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def _requester(args, home, ca):
    env = dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / "data"),
               ZESCROW_CONF=str(home / "none.conf"), ZESCROW_USER_CONF=str(home / "none2.conf"))
    return subprocess.run([ZESCROWCTL, "recover"] + args + ["--ca-file", ca], env=env,
                          capture_output=True, text=True, timeout=120)


def _custodian(person, *args):
    ca = person["home"] / "ca.pem"
    return subprocess.run(
        ["runuser", "-u", person["user"], "--", "env", "HOME=%s" % person["home"],
         "LC_ALL=C.UTF-8", ZESCROWCTL, "custodian"] + list(args) +
        ["--gnupghome", str(person["gnupg"]), "--ca-file", str(ca)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _ask(server, created, login_name, reason):
    """`login_name` claims the upload and asks for its recovery, without a browser:
    (their session, the page that shows the two links)."""
    s = signed_in(server, "test", login_name)
    assert claim(s, created["claim_url"]).status_code == 303
    page = s.get(server.url + "/escrows/%s/recovery" % created["id"]).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return s, s.post(server.url + "/escrows/%s/recovery" % created["id"],
                     data={"csrf": csrf, "reason": reason}).text


def _audit(server):
    return [json.loads(line) for line in subprocess.run(
        server.cli() + ["--data", str(server.data), "admin", "export-audit"],
        capture_output=True, text=True, check=True).stdout.splitlines()]


def _mails_to(smtp, address, count, timeout=10):
    deadline = time.monotonic() + timeout
    while len([m for m in smtp.messages if m["To"] == address]) < count:
        assert time.monotonic() < deadline, [(m["To"], m["Subject"]) for m in smtp.messages]
        time.sleep(0.1)
    return [m for m in smtp.messages if m["To"] == address]


def test_two_of_three_custodians_recover_the_key_one_cannot(blind, escrow, custodians, browser,
                                                          smtp, tls_dir, requester_home):
    keys, _, people = custodians
    sealed, setup = escrow
    ca = os.path.join(tls_dir, "ca.pem")
    created = upload(blind, sealed, ctype=TYPE).json()

    # The owner: claims in Chromium through the OIDC provider, then asks with a reason.
    page = browser.context().new_page()
    page.goto(created["claim_url"])
    page.click("#login-test")
    oidc_login(page, "alice")
    page.wait_for_selector("#claim")
    assert "checked by the client" in page.content()
    page.click("#claim")
    page.wait_for_selector("#claimed")
    assert page.locator("#download-%s" % created["id"]).count() == 0  # nothing to download
    page.click("#recover-%s" % created["id"])
    page.fill("#reason", "I forgot my login password and lost wrapped-passphrase")
    page.click("#ask")
    page.wait_for_selector("#opened")
    requester_url = page.inner_text("#requester-command").split()[-1]
    custodian_url = page.inner_text("#custodian-command").split()[-1]
    assert requester_url != custodian_url
    # Mail: each custodian at the address in their key, and the owner.
    for key in keys:
        [asked] = _mails_to(smtp, key.email, 1)
        text = asked.get_payload(decode=True).decode()
        assert custodian_url in text and "forgot my login password" in text
        assert requester_url not in text
    _mails_to(smtp, "alice@example.test", 1)

    # The requesting machine: makes its key, registers it, waits for the custodians.
    home = requester_home
    first = _requester(["--request", requester_url], home, ca)
    assert first.returncode == 78, first.stdout + first.stderr
    fpr = re.search(r"recovery key: ([0-9A-F ]{49})", first.stdout).group(1).replace(" ", "")
    assert "0 of the 2" in first.stderr

    a, b, c = people
    # A custodian who does not confirm the requester's key sends nothing.
    wrong = _custodian(c, "approve", custodian_url, "--expect-requester", "0" * 40, "--yes")
    assert wrong.returncode == 49 and "nothing was sent" in wrong.stderr, wrong.stderr
    # Custodian a approves; one share opens nothing.
    approve = _custodian(a, "approve", custodian_url, "--expect-requester", fpr, "--yes")
    assert approve.returncode == 0, approve.stdout + approve.stderr
    assert "forgot my login password" in approve.stdout and "alice" in approve.stdout
    one = _requester(["--request", requester_url], home, ca)
    assert one.returncode == 78 and "1 of the 2" in one.stderr, one.stdout + one.stderr
    again = _custodian(a, "approve", custodian_url, "--expect-requester", fpr, "--yes")
    assert again.returncode == 79 and "already decided" in again.stderr, again.stderr
    # Custodian b declines with a reason; c approves: two of three.
    decline = _custodian(b, "decline", custodian_url, "--reason", "call me first")
    assert decline.returncode == 0, decline.stdout + decline.stderr
    approve = _custodian(c, "approve", custodian_url, "--expect-requester", fpr, "--yes")
    assert approve.returncode == 0 and "ready" in approve.stdout, approve.stdout + approve.stderr

    # Asked for nothing yet: it says how, and keeps this computer's recovery key.
    plain = _requester(["--request", requester_url], home, ca)
    assert plain.returncode == 1 and "--show-passphrase" in plain.stdout, plain.stdout
    done = _requester(["--request", requester_url, "--ecryptfs-dir", str(setup),
                       "--show-passphrase"], home, ca)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matches its Private.sig" in done.stdout and "It is the key of" in done.stdout
    assert "MOUNT passphrase: %s" % MOUNT.decode() in done.stdout
    assert "Declined by" in done.stdout and "call me first" in done.stdout
    assert not list((home / "data" / "zescrow" / "recovery").iterdir())  # key pair gone
    agents = subprocess.run(["pgrep", "-f", "gpg-agent --homedir %s" % home],
                            capture_output=True)
    assert agents.returncode == 1, agents.stdout  # and no agent of it left running

    # The owner was told it can complete; the owner's page shows the decisions.
    assert any("can complete" in m["Subject"] for m in _mails_to(smtp, "alice@example.test", 2))
    page.goto(blind.url + "/escrows/%s/recovery" % created["id"])
    assert "ready" in page.inner_text("#requests") and "call me first" in page.inner_text(
        "#requests")
    # Audited, every step.
    actions = [e["action"] for e in _audit(blind) if e["escrow_id"] == created["id"]]
    assert actions == ["upload", "claim", "recovery-request", "recovery-mail", "recovery-key",
                       "recovery-approve", "recovery-decline", "recovery-approve",
                       "recovery-ready", "recovery-fetch", "recovery-fetch"], actions
    # The server never held a share or the key in the clear.
    db = sqlite3.connect(str(blind.data / "zescrow.db"))
    blob = b"".join(bytes(r[0]) for r in db.execute("SELECT share FROM recovery_decisions "
                                                   "WHERE share IS NOT NULL"))
    db.close()
    assert blob and MOUNT not in blob and b"zescrow-custodian-share" not in blob


def test_decisions_that_do_not_hold_are_refused(blind, escrow, custodians, requester_home,
                                               tls_dir):
    """A statement for another request, and one signed by a key that is not the
    custodian's, are refused; so is a registered key a second time."""
    keys, _, people = custodians
    sealed, _ = escrow
    ca = os.path.join(tls_dir, "ca.pem")
    created = upload(blind, sealed, ctype=TYPE).json()
    s, opened = _ask(blind, created, "bob", "testing refusals")
    requester_url = re.search(r'recover --request (\S+)</pre>', opened).group(1)
    custodian_url = re.search(r'custodian approve (\S+)</pre>', opened).group(1)
    home = requester_home
    assert _requester(["--request", requester_url], home, ca).returncode == 78
    token = custodian_url.rsplit("/", 1)[-1]
    api = blind.url + "/api/v1/custodian/" + token
    doc = blind.session().get(api).json()
    from zescrow_core import recovery

    def signed(statement, key):
        return key.gpg("--armor", "--local-user", key.fingerprint, "--detach-sign",
                       input=statement).stdout.decode()

    import base64

    from zescrow_core import custodians as cust

    a = keys[0]
    box = cust.parse(base64.b64decode(doc["container"]))["escrow"]
    other_request = recovery.statement("0" * 16, doc["escrow"]["id"], box,
                                       doc["requester_fingerprint"], a.fingerprint, "decline",
                                       "x", None)
    r = blind.session().post(api + "/decision", json={"statement": other_request.decode(),
                                                      "signature": signed(other_request, a)})
    assert r.status_code == 422 and r.json()["error"] == "statement-mismatch", r.text
    other_box = recovery.statement(doc["id"], doc["escrow"]["id"], "f" * 64,
                                   doc["requester_fingerprint"], a.fingerprint, "decline", "x",
                                   None)
    r = blind.session().post(api + "/decision", json={"statement": other_box.decode(),
                                                      "signature": signed(other_box, a)})
    assert r.status_code == 422 and r.json()["error"] == "statement-mismatch", r.text
    mine = recovery.statement(doc["id"], doc["escrow"]["id"], box, doc["requester_fingerprint"],
                              a.fingerprint, "decline", "x", None)
    r = blind.session().post(api + "/decision", json={"statement": mine.decode(),
                                                      "signature": signed(mine, keys[1])})
    assert r.status_code == 422 and r.json()["error"] == "signature-invalid", r.text
    r = blind.session().put(blind.url + "/api/v1/recovery/" + requester_url.rsplit("/", 1)[-1]
                            + "/key", data=open(keys[2].public_path, "rb").read())
    assert r.status_code == 409, r.text
    # Requests expire: past its time nobody can decide or fetch any more.
    db = sqlite3.connect(str(blind.data / "zescrow.db"))
    db.execute("UPDATE recovery_requests SET expires_at = '2000-01-01 00:00:00' WHERE id = ?",
               (doc["id"],))
    db.commit()
    db.close()
    late = _custodian(people[1], "approve", custodian_url, "--expect-requester",
                      doc["requester_fingerprint"], "--yes")
    assert late.returncode == 79 and "expired" in late.stderr, late.stdout + late.stderr
    fetch = _requester(["--request", requester_url], home, ca)
    assert fetch.returncode == 79 and "expired" in fetch.stderr, fetch.stdout + fetch.stderr


def test_too_many_declines_close_the_request_and_the_owner_is_told(blind, escrow, custodians,
                                                                   tls_dir, smtp):
    """With k = 2 of 3, two declines mean it can never complete: declined, mailed, closed."""
    _, _, people = custodians
    sealed, _ = escrow
    created = upload(blind, sealed, ctype=TYPE).json()
    s, opened = _ask(blind, created, "carol", "please")
    custodian_url = re.search(r'custodian approve (\S+)</pre>', opened).group(1)
    requester_url = re.search(r'recover --request (\S+)</pre>', opened).group(1)
    # Six registrations of three keys at once: exactly one wins (a conditional UPDATE).
    from concurrent.futures import ThreadPoolExecutor

    put = blind.url + "/api/v1/recovery/" + requester_url.rsplit("/", 1)[-1] + "/key"
    keys = [open(k.public_path, "rb").read() for k in custodians[0]] * 2
    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(lambda key: blind.session().put(put, data=key).status_code,
                                keys))
    assert codes == [204, 409, 409, 409, 409, 409], codes
    # Text that is no UTF-8 (a lone surrogate), and a CSRF token beyond ASCII: no 500s.
    api = blind.url + "/api/v1/custodian/" + custodian_url.rsplit("/", 1)[-1]
    odd = blind.session().post(api + "/decision", data=json.dumps({
        "statement": json.dumps({"custodian": people[0]["key"].fingerprint,
                                 "decision": "decline", "reason": "\ud800"}),
        "signature": "x"}), headers={"Content-Type": "application/json"})
    assert odd.status_code == 422, odd.text
    forged = s.post(blind.url + "/escrows/%s/recovery" % created["id"],
                    data={"csrf": "\u00e9t\u00e9", "reason": "x"})
    assert forged.status_code == 403, forged.text
    for person, why in ((people[0], "not without a call"), (people[1], "no")):
        decided = _custodian(person, "decline", custodian_url, "--reason", why)
        assert decided.returncode == 0, decided.stdout + decided.stderr
    assert "now declined" in decided.stdout
    # The requesting computer is told it is over (and its recovery key goes).
    home = Path(tempfile.mkdtemp(prefix="zr-"))
    try:
        over = _requester(["--request", requester_url], home, os.path.join(tls_dir, "ca.pem"))
        assert over.returncode == 79 and "declined by 2" in over.stderr, over.stderr
        assert not list((home / "data" / "zescrow" / "recovery").iterdir())
    finally:
        shutil.rmtree(home, ignore_errors=True)
    late = _custodian(people[2], "decline", custodian_url, "--reason", "late")
    assert late.returncode == 79 and "declined" in late.stderr, late.stderr
    assert any("declined" in m["Subject"] for m in _mails_to(smtp, "carol@example.test", 2))
    page = s.get(blind.url + "/escrows/%s/recovery" % created["id"]).text
    assert "not without a call" in page and "declined" in page


def test_a_server_that_swaps_in_another_escrow_gets_no_share(blind, escrow, custodians,
                                                             requester_home, tls_dir):
    """The review's attack: Mallory asks for her own escrow, registers her own key (so
    the fingerprint check passes) and the server serves Bob's container under her
    request. The share itself names whose key it is: the custodian refuses."""
    import hashlib

    keys, combined, people = custodians
    sealed, setup = escrow
    ca = os.path.join(tls_dir, "ca.pem")
    prepared = pipeline.prepare(str(setup), LOGIN)
    bobs = seal.seal_to_custodians(prepared.archive.data, str(combined),
                                   [k.fingerprint for k in keys], 2,
                                   {"user": "bob", "host": "bobbox"})
    created = upload(blind, sealed, ctype=TYPE).json()  # Mallory's: alice@testbox here
    s, opened = _ask(blind, created, "mallory", "mine")
    requester_url = re.search(r'recover --request (\S+)</pre>', opened).group(1)
    custodian_url = re.search(r'custodian approve (\S+)</pre>', opened).group(1)
    first = _requester(["--request", requester_url], requester_home, ca)
    fpr = re.search(r"recovery key: ([0-9A-F ]{49})", first.stdout).group(1).replace(" ", "")
    # The server swaps Bob's container in (and its checksum, so that nothing else notices).
    db = sqlite3.connect(str(blind.data / "zescrow.db"))
    db.execute("UPDATE escrows SET sealed = ?, sha256 = ? WHERE id = ?",
               (bobs, hashlib.sha256(bobs).hexdigest(), created["id"]))
    db.commit()
    db.close()
    try:
        fooled = _custodian(people[0], "approve", custodian_url, "--expect-requester", fpr,
                            "--yes")
        assert fooled.returncode == 49, fooled.stdout + fooled.stderr
        assert "your share is the key of bob@bobbox" in fooled.stderr, fooled.stderr
        assert "whose key:  bob@bobbox" in fooled.stdout
    finally:  # the module's other tests share this server
        db = sqlite3.connect(str(blind.data / "zescrow.db"))
        db.execute("DELETE FROM escrows WHERE id = ?", (created["id"],))
        db.commit()
        db.close()


def test_the_owners_download_of_a_custodians_escrow_points_to_the_custodians(blind, escrow):
    """Not the server's to open: a refusal that says where to go, not a 500 that tells the
    admin the server key is broken."""
    sealed, _ = escrow
    created = upload(blind, sealed, ctype=TYPE).json()
    s = signed_in(blind, "test", "frida")
    assert claim(s, created["claim_url"]).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"',
                     s.get(blind.url + "/escrows/%s/recovery" % created["id"]).text).group(1)
    r = s.post(blind.url + "/escrows/%s/download" % created["id"], data={"csrf": csrf},
               allow_redirects=False, timeout=30)
    assert r.status_code == 409 and r.json()["error"] == "wrong-recovery-mode", r.text[:300]
    assert "/escrows/%s/recovery" % created["id"] in r.json()["message"]
    assert "cannot be decrypted" not in (blind.data / "serve.log").read_text(errors="replace")
