"""Who is logged in: an identity belongs to the provider it came through (#11).

Two real oidc-provider processes: "test", honest, and "hostile", the same
provider told to misbehave (tests/oidc/provider.mjs). Logins go over plain
HTTP through the provider's own forms (tests/server/login.py).
"""

import re
import subprocess
import time

import pytest

from tests.server.conftest import upload
from tests.server.login import claim, sign_in, signed_in


def _claimed(server, sealed, provider, who):
    """An upload claimed by `who` of `provider`: (its upload answer, the owner's session)."""
    created = upload(server, sealed).json()
    owner = signed_in(server, provider, who)
    r = claim(owner, created["claim_url"])
    assert r.status_code == 303 and "claimed=" in r.headers["location"], r.text
    return created, owner


def _download(s, server, created):
    """The owner page's Download button: a POST with the page's CSRF token (someone
    without a form there sends none, and is refused on whose escrow it is first)."""
    found = re.search(r'name="csrf" value="([^"]+)"', s.get(server.url + "/", timeout=30).text)
    return s.post("%s/escrows/%s/download" % (server.url, created["id"]),
                  data={"csrf": found.group(1) if found else ""}, allow_redirects=False,
                  timeout=30)


def _refused_login(r):
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert r.json()["error"] == "login-failed" and "Traceback" not in r.text


def test_a_provider_naming_another_providers_issuer_cannot_sign_in_as_its_users(
        two_providers, hostile, oidc, sealed):
    server = two_providers
    created, _ = _claimed(server, sealed, "test", "alice-f1")
    hostile.behave(issuer=oidc.issuer)  # in its discovery and as its ID tokens' iss
    mallory, r = sign_in(server, "hostile", "alice-f1")
    _refused_login(r)
    assert "issuer" in r.json()["message"]
    assert created["sha256"][:16] not in mallory.get(server.url + "/").text
    assert _download(mallory, server, created).status_code in (303, 404)


def test_the_same_subject_at_two_providers_is_two_people(two_providers, hostile, sealed):
    server = two_providers
    created, _ = _claimed(server, sealed, "test", "alice-f1b")
    other = signed_in(server, "hostile", "alice-f1b")  # honest, its own issuer
    assert created["sha256"][:16] not in other.get(server.url + "/").text
    assert _download(other, server, created).status_code == 404


def _past(seconds):
    return int(time.time()) - seconds


@pytest.mark.parametrize("id_token", [
    {"iss": "http://127.0.0.1:1"},
    {"aud": "someone-else"},
    {"nonce": "not-the-one-we-sent"},
    {"nonce": None},
    {"exp": _past(3600), "iat": _past(7200)},
    {"sub": None},
    {"nonce": None, "nonce_supported": False},  # Authlib would skip the nonce check
], ids=["wrong-iss", "wrong-aud", "wrong-nonce", "no-nonce", "expired", "no-sub",
        "nonce-opt-out"])
def test_an_id_token_that_does_not_hold_is_a_failed_login_not_a_500(
        two_providers, hostile, id_token):
    hostile.behave(id_token=id_token)
    s, r = sign_in(two_providers, "hostile", "eve-f11")
    _refused_login(r)
    assert "Sign out" not in s.get(two_providers.url + "/").text


def test_long_names_and_addresses_from_a_provider_are_no_500(two_providers, hostile, sealed):
    server = two_providers
    hostile.behave(claims={"name": "N" * 300, "email": "e" * 300 + "@example.test"})
    created, owner = _claimed(server, sealed, "hostile", "long-f10")
    home = owner.get(server.url + "/")
    assert home.status_code == 200 and created["sha256"][:16] in home.text
    assert _download(owner, server, created).status_code == 200
    assert created["id"] in _admin_list(server)


def test_a_subject_over_255_characters_is_a_failed_login(two_providers):
    _refused_login(sign_in(two_providers, "test", "s" * 300)[1])


def test_admin_list_escapes_what_a_provider_put_in_a_name(two_providers, hostile, sealed):
    hostile.behave(claims={"name": "\x1b]0;owned\x07\x1b[2JMallory", "email": None})
    created, _ = _claimed(two_providers, sealed, "hostile", "esc-f9")
    line = [l for l in _admin_list(two_providers).splitlines() if created["id"] in l][0]
    assert "\x1b" not in line and "\x07" not in line
    # Shown without the controls, with who they are at which provider (not a name alone).
    assert "]0;owned[2JMallory (hostile:esc-f9)" in line, line


def _admin_list(server):
    return subprocess.run(server.cli() + ["--data", str(server.data), "admin", "list"],
                          capture_output=True, text=True, check=True).stdout
