"""A download needs a login that just happened, by the provider's word (#11 finding 4).

The server asks for one (prompt=login, max_age) and then checks the ID
token's auth_time: a provider that ignores the request and vouches for an
old login, or for none, gets no download.
"""

import re
import time

import pytest

from tests.server.conftest import upload
from tests.server.login import claim, signed_in, through_provider


def _past(seconds):
    return int(time.time()) - seconds


@pytest.mark.parametrize("auth_time", [_past(3600), None], ids=["an-hour-old", "missing"])
def test_a_provider_that_ignores_prompt_login_gets_no_download(two_providers, hostile, sealed,
                                                                auth_time):
    server = two_providers
    hostile.behave(ignore_prompt=True, id_token={"auth_time": auth_time})
    created = upload(server, sealed).json()
    owner = signed_in(server, "hostile", "frank-f4")  # a sign-in of an hour ago, it says
    assert claim(owner, created["claim_url"]).status_code == 303
    url = "%s/escrows/%s/download" % (server.url, created["id"])
    form = {"csrf": _csrf(owner, server)}
    r = through_provider(owner, server, owner.post(url, data=form, timeout=30), "frank-f4")
    asked = [h.headers["location"] for h in r.history if "/auth?" in h.headers.get("location", "")]
    assert asked and "prompt=login" in asked[0] and "max_age=300" in asked[0], asked
    assert r.headers.get("content-type") != "application/gzip"
    assert r.status_code == 403 and r.json()["error"] == "login-not-fresh", r.text[:300]
    # Asked again, the same answer: refused, not a loop.
    form = {"csrf": _csrf(owner, server)}  # still signed in, with the token of the page
    r = through_provider(owner, server, owner.post(url, data=form, timeout=30), "frank-f4")
    assert r.status_code == 403 and r.json()["error"] == "login-not-fresh"


def test_an_honest_provider_s_recent_login_downloads_at_once(two_providers, sealed):
    server = two_providers
    created = upload(server, sealed).json()
    owner = signed_in(server, "test", "gus-f4")
    assert claim(owner, created["claim_url"]).status_code == 303
    r = owner.post("%s/escrows/%s/download" % (server.url, created["id"]),
                   data={"csrf": _csrf(owner, server)}, allow_redirects=False, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"


def test_a_link_to_a_download_hands_out_nothing(two_providers, sealed):
    """A link (in a mail, on another site: SameSite=Lax sends the cookie with it) neither
    hands out the key nor mails the owner; the page's button, a form with its CSRF token,
    does."""
    server = two_providers
    created = upload(server, sealed).json()
    owner = signed_in(server, "test", "hal-f4")  # a sign-in of just now
    assert claim(owner, created["claim_url"]).status_code == 303
    url = "%s/escrows/%s/download" % (server.url, created["id"])
    r = owner.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == "/", r.status_code
    r = owner.post(url, data={"csrf": "from another site"}, allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "CSRF" in r.text, (r.status_code, r.text[:200])
    r = owner.post(url, data={"csrf": _csrf(owner, server)}, allow_redirects=False, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"


def _csrf(s, server):
    """The token of the owner's page's forms (one per escrow, each a Download button)."""
    found = re.search(r'name="csrf" value="([^"]+)"', s.get(server.url + "/", timeout=30).text)
    assert found, "the owner's page has no form"
    return found.group(1)
