"""A download needs a login that just happened, by the provider's word (#11 finding 4).

The server asks for one (prompt=login, max_age) and then checks the ID
token's auth_time: a provider that ignores the request and vouches for an
old login, or for none, gets no download.
"""

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
    r = through_provider(owner, server, owner.get(url, timeout=30), "frank-f4")
    asked = [h.headers["location"] for h in r.history if "/auth?" in h.headers.get("location", "")]
    assert asked and "prompt=login" in asked[0] and "max_age=300" in asked[0], asked
    assert r.headers.get("content-type") != "application/gzip"
    assert r.status_code == 403 and r.json()["error"] == "login-not-fresh", r.text[:300]
    # Asked again, the same answer: refused, not a loop.
    r = through_provider(owner, server, owner.get(url, timeout=30), "frank-f4")
    assert r.status_code == 403 and r.json()["error"] == "login-not-fresh"


def test_an_honest_provider_s_recent_login_downloads_at_once(two_providers, sealed):
    server = two_providers
    created = upload(server, sealed).json()
    owner = signed_in(server, "test", "gus-f4")
    assert claim(owner, created["claim_url"]).status_code == 303
    r = owner.get("%s/escrows/%s/download" % (server.url, created["id"]), allow_redirects=False)
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
