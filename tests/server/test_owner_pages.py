"""The owner's pages promise an email only when the server can send one.

The owner signs in through the real OIDC provider over plain HTTP
(tests/server/login.py); a provider that gives no address is the hostile
one, told to leave it out.
"""

import pytest

from tests.common.servers import ZescrowServer
from tests.server.conftest import PORTS, upload
from tests.server.login import claim, signed_in


def claimed_pages(server, sealed, provider, login_name):
    """The text of the claim page and of the home page after claiming an upload."""
    created = upload(server, sealed).json()
    browser = signed_in(server, provider, login_name)
    claim_page = browser.get(created["claim_url"]).text
    done = claim(browser, created["claim_url"])
    assert done.status_code == 303, done.text
    home = browser.get(server.url + "/").text
    assert created["sha256"][:16] in home
    return claim_page, home


@pytest.fixture(scope="module")
def mailing_server(key_home, tls_dir, smtp, oidc, hostile_oidc):
    srv = ZescrowServer(PORTS[12], key_home, tls_dir, workers=1, smtp_host="127.0.0.1",
                        smtp_port=smtp.port, oidc=oidc, more_oidc=[("hostile", hostile_oidc)])
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def silent_server(key_home, tls_dir, oidc):
    srv = ZescrowServer(PORTS[13], key_home, tls_dir, workers=1, oidc=oidc)
    yield srv
    srv.close()


def test_with_smtp_the_owner_is_promised_a_mail_at_their_address(mailing_server, sealed):
    claim_page, home = claimed_pages(mailing_server, sealed, "test", "alice")
    for page in (claim_page, home):
        assert "you will be mailed at alice@example.test" in page


def test_without_smtp_no_page_promises_a_mail(silent_server, sealed):
    for page in claimed_pages(silent_server, sealed, "test", "alice"):
        assert "mail" not in page.replace("alice@example.test", "")


def test_an_owner_without_an_address_is_promised_nothing(mailing_server, hostile, sealed):
    hostile.behave(claims={"email": None, "name": "Bob"})
    for page in claimed_pages(mailing_server, sealed, "hostile", "bob-1"):
        assert "mail" not in page and "signed in as Bob" in page.split("<main>")[0]
