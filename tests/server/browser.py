"""Debian's Chromium, driven by Playwright, trusting the test CA like a real browser would.

The CA goes into an NSS database in a throwaway HOME (what Chromium on
Linux reads), not `ignore_https_errors`: the browser checks TLS for real.
Never `playwright install`: the executable is /usr/bin/chromium.
"""

import os
import shutil
import subprocess
import tempfile

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Browser:
    def __init__(self, ca_file):
        from playwright.sync_api import sync_playwright

        self.home = tempfile.mkdtemp(prefix="zescrow-browser-")
        nssdb = os.path.join(self.home, ".pki", "nssdb")
        os.makedirs(nssdb)
        subprocess.run(["certutil", "-d", "sql:" + nssdb, "-N", "--empty-password"], check=True)
        subprocess.run(["certutil", "-d", "sql:" + nssdb, "-A", "-t", "C,,", "-n",
                        "zescrow test CA", "-i", ca_file], check=True)
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS,
            env=dict(os.environ, HOME=self.home))

    def context(self):
        return self.browser.new_context(accept_downloads=True)

    def close(self):
        self.browser.close()
        self.playwright.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def oidc_login(page, login_name):
    """Sign in on oidc-provider's development screens (any password), then consent."""
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login_name)
    page.fill("input[name=password]", "any password will do")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.locator("button[type=submit]").count() and "/interaction/" in page.url:
        page.click("button[type=submit]")  # the consent screen, on a first login


def fetch(page, url, method="GET", form=None):
    """A request made by the page itself (its cookies, Chromium's TLS): (status, body)."""
    return page.evaluate("""async ([url, method, form]) => {
        const init = {method, credentials: 'same-origin', redirect: 'manual'};
        if (form !== null) init.body = new URLSearchParams(form);
        const r = await fetch(url, init);
        return [r.status, await r.text()];
    }""", [url, method, form])


def claim(browser, claim_url, login_name):
    """Open a claim link, sign in at the OIDC provider, claim: return the page."""
    page = browser.context().new_page()
    page.goto(claim_url)
    page.click("#login-test")
    oidc_login(page, login_name)
    page.wait_for_selector("#claim")
    page.click("#claim")
    page.wait_for_selector("#claimed")
    return page
