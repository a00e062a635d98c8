"""Signing in through a real OIDC provider over plain HTTP, as a browser without scripts would.

The server's /login/NAME sends us to the provider (oidc-provider's
development screens: a login form, then a consent form on a first login);
we fill in each form and follow the redirects back to the server's
callback. Faster than Chromium, for tests that log in many times.
"""

import html
import re
from urllib.parse import urljoin

FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def sign_in(server, provider, login_name, session=None, next="/", fresh=False):
    """(session, last response) after a login at `provider` as `login_name`."""
    s = session or server.session()
    url = "%s/login/%s?next=%s" % (server.url, provider, next)
    return s, through_provider(s, server, s.get(url + ("&fresh=1" if fresh else ""),
                                                timeout=30), login_name)


def through_provider(s, server, response, login_name):
    """Answer the provider's forms until it sends us back to the server."""
    for _ in range(5):
        if response.url.startswith(server.url):
            return response
        found = FORM.search(response.text)
        assert found, "the provider answered %d without a form: %s" % (
            response.status_code, response.text[:500])
        action, inner = found.groups()
        fields = {name: html.unescape(value) for name, value in HIDDEN.findall(inner)}
        if 'name="login"' in inner:
            fields.update(login=login_name, password="any password will do")
        response = s.post(urljoin(response.url, html.unescape(action)), data=fields, timeout=30)
    raise AssertionError("the provider never sent us back: %s" % response.url)


def signed_in(server, provider, login_name):
    """A session logged in at the server as `login_name` of `provider`."""
    s, r = sign_in(server, provider, login_name)
    assert r.status_code == 200 and r.url.rstrip("/") == server.url, (r.status_code, r.text)
    return s


def claim(s, claim_url):
    """Claim the upload behind `claim_url` in session `s`: the answer, not followed."""
    page = s.get(claim_url, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    return s.post(claim_url, data={"csrf": csrf.group(1)}, allow_redirects=False, timeout=30)
