"""Coverage on the server (#13): what a host's report must be to count, how each user is
judged, and who may see the page. Real server, real OIDC provider (groups after "+"
in the login name), reports signed with a real P-256 host key; the whole path from
real logins is in tests/daemon/test_coverage.py."""

import base64
import json
import re
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.common.servers import ZescrowServer
from tests.server.conftest import PORTS, upload
from tests.server.login import signed_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "debian-postgresql"])
def server(request, key_home, tls_dir, oidc, hostile_oidc):
    """SQLite, and PostgreSQL through psycopg 3 and through Debian's own stack (psycopg2,
    SQLAlchemy 1.4): the reports' reads and writes are the drivers' own SQL."""
    from tests.server.conftest import _debian_stack

    stack, _, backend = request.param.rpartition("-")
    if stack:
        from tests.conftest import require

        require(_debian_stack(), "Debian's python3-fastapi/-sqlalchemy/... are not installed")
    url = request.getfixturevalue("postgres").create_database(
        "zescrow_coverage_" + (stack or "venv")) if backend == "postgresql" else None
    srv = ZescrowServer(PORTS[17], key_home, tls_dir, workers=1, oidc=oidc, database_url=url,
                        stack=stack or "venv", more_oidc=[("hostile", hostile_oidc)],
                        rate_limit_per_minute=0, admins=["group:admins"],
                        helpdesk=["hal+helpdesk@example.test", "kate@example.test"])
    yield srv
    srv.close()


class Host:
    """A machine enrolled through the API with a token from `admin enrol-token create`."""

    def __init__(self, server):
        from zescrow_core import hostkey

        self.server = server
        self.key = Path(tempfile.mkdtemp(prefix="zs-host-")) / "host.key"
        public = hostkey.generate(str(self.key))
        r = _admin(server, "enrol-token", "create", "--label", "coverage", "--uses", "1")
        token = re.search(r"--token (zet_\S+)", r.stdout).group(1)
        answer = server.session().post(server.url + "/api/v1/hosts", json={
            "token": token, "name": "box-" + uuid.uuid4().hex[:6], "public_key": public})
        assert answer.status_code == 201, answer.text
        self.id = answer.json()["host"]
        self.sent = 0

    def vouching(self, user):
        """The upload headers of `user`'s escrow made at a login on this host."""
        from zescrow_core import hostkey

        statement, signature = hostkey.voucher(str(self.key), self.id, user)
        return {"X-Zescrow-User": user,
                "X-Zescrow-Voucher": base64.b64encode(statement).decode(),
                "X-Zescrow-Voucher-Signature": signature}

    def report(self, users, host=None, time=None, sign=True, raw=None):
        from zescrow_core import hostkey

        self.sent += 1
        body = raw if raw is not None else json.dumps({
            "format": "zescrow-report", "version": 1, "host": host or self.id,
            "time": time or _now(), "users": users}).encode()
        signature = hostkey.sign(str(self.key), body) if sign else \
            base64.b64encode(b"\x30" * 70).decode()
        return self.server.session().post(
            "%s/api/v1/hosts/%s/reports" % (self.server.url, self.id), data=body,
            headers={"Content-Type": "application/json", "X-Zescrow-Signature": signature},
            timeout=30)


def _now(delta_days=0):
    import datetime as dt

    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=delta_days)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def _admin(server, *args):
    r = subprocess.run(server.cli() + ["--data", str(server.data), "admin"] + list(args),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def _user(name, digest="a" * 64, escrowed=None, escrow=None, error=None):
    return {"user": name, "digest": digest, "escrowed_digest": escrowed, "escrow": escrow,
            "error": error, "error_at": "2026-12-01T10:00:00Z" if error else None}


def _wait_checked(server, escrow_id):
    import time

    deadline = time.monotonic() + 60
    while "verified" not in _admin(server, "list").stdout.split(escrow_id, 1)[-1].split("\n")[0]:
        assert time.monotonic() < deadline, _admin(server, "list").stdout
        time.sleep(0.3)


def _db(server, sql, *args):
    from zescrow_server.coverage import readout

    conn = readout.connect(server.database_url) if server.database_url.startswith(
        "postgresql") else None
    if conn is None:
        import sqlite3

        with sqlite3.connect(server.data / "zescrow.db") as db:
            return db.execute(sql, args).fetchall()
    try:
        rows = conn.query(sql, args) if sql.lstrip().upper().startswith("SELECT") else \
            conn.dbapi.cursor().execute(sql.replace("?", "%s"), args)
        conn.dbapi.commit()
        return rows
    finally:
        conn.dbapi.close()


def test_each_user_is_judged_against_the_escrow_the_host_names(server, sealed):
    host = Host(server)
    up = upload(server, sealed, **host.vouching("carol")).json()
    _wait_checked(server, up["id"])
    # What the verifier worked out from the archive itself: the setup's digest.
    [(digest,)] = _db(server, "SELECT setup_digest FROM escrows WHERE id = ?", up["id"])
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    unvouched = upload(server, sealed, **{"X-Zescrow-User": "gil"}).json()  # no voucher
    users = [_user("anna"),  # never escrowed
             _user("carol", digest=digest, escrowed=digest, escrow=up["id"]),  # unchanged
             _user("dan", digest=digest, escrowed=digest, escrow=up["id"]),  # not his
             _user("erin", error="wrong-password"),
             _user("fay", escrowed="a" * 64, escrow="f" * 32),  # gone from the server
             _user("gil", digest=digest, escrowed=digest, escrow=unvouched["id"])]
    r = host.report(users)
    assert r.status_code == 200, r.text
    judged = {u["user"]: u for u in r.json()["users"]}
    assert judged["anna"]["state"] == "missing" and "never escrowed" in judged["anna"]["reason"]
    assert judged["carol"]["state"] == "verified" and "checked by the server" in \
        judged["carol"]["reason"]
    assert judged["dan"]["state"] == "missing" and "not uploaded for this user" in \
        judged["dan"]["reason"]
    assert judged["erin"]["state"] == "failed" and "wrong-password" in judged["erin"]["reason"]
    assert judged["fay"]["state"] == "missing" and "not on this server" in \
        judged["fay"]["reason"]
    # An upload without this host's voucher covers nobody of this host.
    assert judged["gil"]["state"] == "missing" and "voucher" in judged["gil"]["reason"]
    # Carol's setup changes: stale until a new escrow...
    r = host.report([_user("carol", digest="c" * 64, escrowed=digest, escrow=up["id"])])
    assert r.json()["users"][0]["state"] == "stale"
    # ... and writing the new digest into her own marker (escrowed.digest) does not
    # make it verified: the server knows what the escrow holds.
    r = host.report([_user("carol", digest="c" * 64, escrowed="c" * 64, escrow=up["id"])])
    assert r.json()["users"][0]["state"] == "stale", r.text
    # The helpdesk recovered it: Carol is told, under her name; Dan, who names her
    # escrow, learns nothing of it.
    _db(server, "UPDATE escrows SET exposed_at = '2026-12-03 09:00:00.000000', "
        "exposed_reason = 'ticket 42' WHERE id = ?", up["id"])
    r = host.report([_user("dan", digest=digest, escrowed=digest, escrow=up["id"])])
    assert r.json()["exposed"] == [], r.text
    r = host.report([_user("carol", digest=digest, escrowed=digest, escrow=up["id"]),
                     _user("dan", digest=digest, escrowed=digest, escrow=up["id"])])
    assert [(e["user"], e["escrow"]) for e in r.json()["exposed"]] == [("carol", up["id"])]
    # The owner deletes the unclaimed escrow: the row follows at once, without a report.
    gone = server.session().delete(server.url + "/api/v1/escrows/" + up["id"], headers={
        "Authorization": "Bearer " + up["upload_token"]})
    assert gone.status_code == 204, gone.text
    rows = _admin(server, "coverage", "--csv").stdout
    assert re.search(r"%s,[^,]*,carol,missing,.*not on this server" % host.id, rows), rows


def test_a_report_counts_only_if_it_is_the_hosts_own_and_new(server):
    host, other = Host(server), Host(server)
    assert host.report([_user("anna")]).status_code == 200
    refused = {
        "forged": host.report([_user("anna")], sign=False),
        "another host's": host.report([_user("anna")], host=other.id),
        "from the past": host.report([_user("anna")], time=_now(-3)),
        "from the future": host.report([_user("anna")], time=_now(+1)),
        "not JSON": host.report(None, raw=b"\xff not json"),
        "a list": host.report(None, raw=b"[]"),
        "a bad user": host.report([{"user": "x", "digest": "<script>"}]),
        "twice the same user": host.report([_user("anna"), _user("anna")]),
    }
    for what, r in refused.items():
        assert r.status_code in (403, 422), (what, r.status_code, r.text)
        assert r.json()["error"] in ("not-enrolled", "report-invalid"), (what, r.text)
    # A replay of the last report (the same bytes, the same signature) is refused.
    body = json.dumps({"format": "zescrow-report", "version": 1, "host": host.id,
                       "time": _now(), "users": [_user("anna")]}).encode()
    assert host.report(None, raw=body).status_code == 200
    again = host.report(None, raw=body)
    assert again.status_code == 422 and "not newer" in again.json()["message"], again.text
    # Too big is refused before it is read; an unknown or revoked host is refused.
    big = host.report(None, raw=b" " * (300 * 1024))
    assert big.status_code == 413, big.text
    _admin(server, "host", "revoke", other.id)
    revoked = other.report([_user("anna")])
    assert revoked.status_code == 403 and "revoked" in revoked.json()["message"]
    unknown = server.session().post(server.url + "/api/v1/hosts/%s/reports" % ("0" * 16),
                                    data=b"{}", headers={"X-Zescrow-Signature": "AA=="})
    assert unknown.status_code == 403 and "never enrolled" in unknown.json()["message"]


def test_the_page_is_for_admins_and_the_helpdesk_only(server, hostile):
    host = Host(server)
    host.report([_user("<b>mallory</b>"), _user("zoe", error="budget-expired")])
    pete = signed_in(server, "test", "pete")
    refused = pete.get(server.url + "/admin/coverage")
    assert refused.status_code == 403 and "helpdesk members" in refused.text
    for login in ("ana+admins", "hal+helpdesk"):  # by group, and by email
        page = signed_in(server, "test", login).get(server.url + "/admin/coverage")
        assert page.status_code == 200, page.text
        assert "Users who need attention" in page.text and host.id in page.text
        assert "&lt;b&gt;mallory&lt;/b&gt;" in page.text and "<b>mallory" not in page.text
        assert re.search(r'id="count-failed">[1-9]', page.text), page.text
    failed = signed_in(server, "test", "ana+admins").get(
        server.url + "/admin/coverage?state=failed").text
    assert "zoe" in failed and "budget-expired" in failed and "mallory" not in failed
    # An email counts only if the provider verified it, and only as ASCII: a Kelvin
    # sign lowercases to "k", and nobody checked that address.
    for claims in ({"email": "kate@example.test", "email_verified": False},
                   {"email": "\u212aate@example.test", "email_verified": True}):
        hostile.behave(claims=claims)
        page = signed_in(server, "hostile", "k-" + uuid.uuid4().hex[:6]).get(
            server.url + "/admin/coverage")
        assert page.status_code == 403, (claims, page.text[:300])
    hostile.behave(claims={"email": "kate@example.test", "email_verified": True})
    page = signed_in(server, "hostile", "kate").get(server.url + "/admin/coverage")
    assert page.status_code == 200, page.text[:300]
    anonymous = server.session().get(server.url + "/admin/coverage", allow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]


def test_odd_input_from_hosts_and_strangers_is_refused_not_a_500(server, sealed):
    """A live probe's findings (helper-16): each was a 500, or worse, before."""
    host = Host(server)
    # A signed report with an error dated in year 1 jammed the host's reports on SQLite
    # (its time written as "1-01-01", unreadable): refused now, and the host still reports.
    odd = dict(_user("anna", error="upload-refused"), error_at="0001-01-01T00:00:00Z")
    r = host.report([odd])
    assert r.status_code == 422 and r.json()["error"] == "report-invalid", r.text
    r = host.report([_user("anna", error="upload-refused")])
    assert r.status_code == 200, r.text
    assert host.report([_user("anna")]).status_code == 200
    # version true is not version 1.
    body = json.dumps({"format": "zescrow-report", "version": True, "host": host.id,
                       "time": _now(), "users": []}).encode()
    assert host.report(None, raw=body).status_code == 422
    s = server.session()
    # JSON nested deeper than the parser goes, at enrolment and in a voucher.
    for raw in (b"[" * 15000, b'{"a":' * 3000):
        r = s.post(server.url + "/api/v1/hosts", data=raw, timeout=30)
        assert r.status_code == 422 and r.json()["error"] == "invalid-request", r.text[:200]
    r = upload(server, sealed, **{"X-Zescrow-Voucher": base64.b64encode(b"[" * 990).decode(),
                                  "X-Zescrow-Voucher-Signature": "AA=="})
    assert r.status_code == 201, r.text[:200]  # open mode: taken, vouched by no host
    # A token that cannot be one (a lone surrogate), and a host key in OpenSSH's format.
    from zescrow_core import hostkey

    public = hostkey.generate(str(Path(tempfile.mkdtemp(prefix="zs-host-")) / "host.key"))
    r = s.post(server.url + "/api/v1/hosts", data=b'{"token": "\\ud800", "name": "x", '
               b'"public_key": "%s"}' % public.encode(), timeout=30,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 403 and r.json()["error"] == "not-enrolled", r.text[:200]
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_public_key(base64.b64decode(public))
    openssh = key.public_bytes(serialization.Encoding.OpenSSH,
                               serialization.PublicFormat.OpenSSH).split()[1]
    token = re.search(r"--token (zet_\S+)", _admin(server, "enrol-token", "create", "--label",
                                                    "ssh", "--uses", "1").stdout).group(1)
    r = s.post(server.url + "/api/v1/hosts", json={"token": token, "name": "ssh",
                                                   "public_key": openssh.decode()}, timeout=30)
    assert r.status_code == 422 and r.json()["error"] == "key-invalid", r.text[:200]
