"""Sessions end when they are revoked: at logout, or all of a user's by the admin (#11, 12).

The cookie is signed, so it cannot be taken back: the server keeps each
session in the database (shared by every server node) and checks it.
"""

import subprocess

from tests.server.login import signed_in


def _replay(server, cookie):
    """A fresh client that sends only `cookie`, as someone who copied it would."""
    s = server.session()
    s.headers["Cookie"] = "zescrow_session=" + cookie
    return s


def _signed_in_page(s, server):
    return "Sign out" in s.get(server.url + "/", timeout=30).text


def test_logout_revokes_the_cookie(server):
    s = signed_in(server, "test", "gina-f12")
    cookie = s.cookies.get("zescrow_session")
    assert _signed_in_page(_replay(server, cookie), server)
    assert s.post(server.url + "/logout", allow_redirects=False).status_code == 303
    assert not _signed_in_page(s, server)
    assert not _signed_in_page(_replay(server, cookie), server)


def test_the_admin_revokes_every_session_of_one_user(server):
    first, second = (signed_in(server, "test", "hank-f12") for _ in range(2))
    other = signed_in(server, "test", "ida-f12")
    r = subprocess.run(server.cli() + ["--data", str(server.data), "admin", "revoke-sessions",
                                       "hank-f12@example.test"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "revoked 2 sessions" in r.stdout and "hank-f12" in r.stdout
    assert not _signed_in_page(first, server) and not _signed_in_page(second, server)
    assert _signed_in_page(other, server)
    again = subprocess.run(server.cli() + ["--data", str(server.data), "admin",
                                           "revoke-sessions", "hank-f12"],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "no open sessions" in again.stdout
