"""The owner's pages promise an email only when the server can send one.

The login is the server's own signed session cookie, made with its
session.key as Starlette makes it: the pages, the claim and the server are
real; only the OpenID Connect round trip (tested in test_claim_browser.py)
is left out.
"""

import base64
import json
import time

import pytest

from tests.common.servers import ZescrowServer, free_port
from tests.server.conftest import upload

ALICE = {"iss": "https://id.example.test", "sub": "alice-1", "email": "alice@example.test",
         "display": "alice@example.test", "provider": "test"}


def signed_in(server, identity):
    """A requests session logged in as `identity` (a cookie signed with session.key)."""
    from itsdangerous import TimestampSigner

    secret = (server.data / "session.key").read_text().strip()
    session = {"identity": dict(identity, login_at=int(time.time())), "csrf": "test-csrf"}
    value = TimestampSigner(secret).sign(base64.b64encode(json.dumps(session).encode()))
    s = server.session()
    s.headers["Cookie"] = "zescrow_session=" + value.decode()
    return s


def claimed_pages(server, sealed, identity):
    """The text of the claim page and of the home page after claiming an upload."""
    created = upload(server, sealed).json()
    browser = signed_in(server, identity)
    claim_page = browser.get(created["claim_url"]).text
    done = browser.post(created["claim_url"], data={"csrf": "test-csrf"}, allow_redirects=False)
    assert done.status_code == 303, done.text
    home = browser.get(server.url + "/").text
    assert created["sha256"][:16] in home
    return claim_page, home


@pytest.fixture(scope="module")
def mailing_server(key_home, tls_dir, smtp):
    srv = ZescrowServer(free_port(), key_home, tls_dir, workers=1, smtp_host="127.0.0.1",
                        smtp_port=smtp.port)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def silent_server(key_home, tls_dir):
    srv = ZescrowServer(free_port(), key_home, tls_dir, workers=1)
    yield srv
    srv.close()


def test_with_smtp_the_owner_is_promised_a_mail_at_their_address(mailing_server, sealed):
    claim_page, home = claimed_pages(mailing_server, sealed, ALICE)
    for page in (claim_page, home):
        assert "you will be mailed at alice@example.test" in page


def test_without_smtp_no_page_promises_a_mail(silent_server, sealed):
    for page in claimed_pages(silent_server, sealed, ALICE):
        assert "mail" not in page.replace(ALICE["email"], "")


def test_an_owner_without_an_address_is_promised_nothing(mailing_server, sealed):
    nameless = dict(ALICE, sub="bob-1", email="", display="Bob")
    for page in claimed_pages(mailing_server, sealed, nameless):
        assert "mail" not in page
