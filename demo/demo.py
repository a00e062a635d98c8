#!/usr/bin/env python3
"""make demo: the whole escrow story, end to end, with the real parts, on this machine.

A local escrow server (SQLite, self-signed HTTPS, a local OpenID Connect
provider) on 127.0.0.1; a throwaway user with a real password and an
eCryptfs key setup; their login through a real PAM stack with zescrow's
hook; zescrowd uploading; `zescrowctl status`; the claim and the download in
headless Chromium; `zescrowctl recover` proving the download unlocks the
key. Everything it makes is removed at the end, even on failure.

The same story from the Debian packages, with su -l in a terminal and the
notification on dunst, is tests/packaging/test_end_to_end.py.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.common.pam import Machine, system_stack_login  # noqa: E402
from tests.common.servers import OidcProvider, ZescrowServer, free_port  # noqa: E402
from tests.server.browser import Browser, oidc_login  # noqa: E402

BIN = Path(sys.executable).parent
PASSWORD = b"demo password"
MOUNT = b"d3m0d3m0d3m0d3m0d3m0d3m0d3m0d3m0"


def say(step, text):
    print("\n\033[1m%s. %s\033[0m" % (step, text), flush=True)


def show(proc):
    out = proc.stdout if isinstance(proc.stdout, str) else proc.stdout.decode()
    if not out.strip():  # zescrowd speaks on stderr (the journal, under systemd)
        out = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode()
    print("   " + out.strip().replace("\n", "\n   "), flush=True)
    if proc.returncode != 0:
        raise SystemExit("demo step failed: " + (proc.stderr if isinstance(proc.stderr, str)
                                                  else proc.stderr.decode()))


class Story:
    def __init__(self):
        self.cleanup = []

    def server(self):
        from zescrow_server import selfsigned
        from zescrow_server.keys import service

        key_home = self.key_home = tempfile.mkdtemp(prefix="zdk-", dir="/tmp")
        self.cleanup.append(lambda: (subprocess.run(["gpgconf", "--homedir", key_home, "--kill",
                                                     "all"]), shutil.rmtree(key_home, True)))
        service.generate(key_home, "zescrow demo server")
        tls_dir = tempfile.mkdtemp(prefix="zdt-")
        self.cleanup.append(lambda: shutil.rmtree(tls_dir, True))
        selfsigned.make(tls_dir, ["127.0.0.1", "localhost"])
        port = free_port()
        oidc = OidcProvider(["https://127.0.0.1:%d/auth/test/callback" % port])
        self.cleanup.append(oidc.close)
        server = ZescrowServer(port, key_home, tls_dir, oidc=oidc)
        self.cleanup.append(server.close)
        return server, oidc

    def run(self):
        say(1, "Start a local escrow server: SQLite, self-signed HTTPS, an OpenID Connect provider")
        server, oidc = self.server()
        print("   server %s, login provider %s, server key in %s"
              % (server.url, oidc.issuer, self.key_home))

        say(2, "Enrol this machine: zescrowctl setup, pinning the server's key")
        machine = Machine()
        self.cleanup.append(machine.close)
        env = dict(os.environ, ZESCROW_CONF=str(machine.conf),
                   ZESCROW_STATE_DIR=str(machine.state_dir))
        fpr = server.session().get(server.url + "/gpg.fingerprint").text.strip()
        ca = machine.etc / "ca.pem"  # where every user can read it
        shutil.copy(server.ca, ca)
        os.chmod(ca, 0o644)
        show(subprocess.run([BIN / "zescrowctl", "setup", server.url, "--system",
                             "--ca-file", str(ca), "--fingerprint", fpr], env=env,
                            capture_output=True, text=True))
        os.chmod(machine.conf, 0o644)

        say(3, "A throwaway user with a real password and an eCryptfs key setup")
        user = machine.add_user(PASSWORD, MOUNT)
        print("   user %s; ~/.ecryptfs made with the real ecryptfs-utils" % user)

        say(4, "The user logs in through this machine's own PAM stack (login, common-auth),\n"
               "   with zescrow's profile enabled by pam-auth-update in a private mount namespace")
        login = system_stack_login(machine, user, PASSWORD)
        login.stdout = login.stdout.decode().split("# end of pam-auth-update config")[-1]
        show(login)
        machine.wait_for_log("sealed and spooled", "not escrowed:")
        print("   hook log: " + machine.log().strip().splitlines()[-1])

        say(5, "zescrowd, as the user, uploads the sealed archive")
        as_user = ["setpriv", "--reuid=%s" % user, "--regid=%s" % user, "--init-groups"]
        user_env = dict(env, HOME=str(machine.base / user / "home"))
        show(subprocess.run(as_user + [BIN / "zescrowd", "--no-notify"], env=user_env,
                            capture_output=True, text=True, timeout=120))

        say(6, "zescrowctl status")
        status = subprocess.run(as_user + [BIN / "zescrowctl", "status"], env=user_env,
                                capture_output=True, text=True)
        show(status)
        claim_url = [w for w in status.stdout.split() if "/claim/" in w][0]

        say(7, "Claim it in headless Chromium, signing in at the OIDC provider, and download it")
        browser = Browser(server.ca)
        self.cleanup.append(browser.close)
        page = browser.context().new_page()
        page.goto(claim_url)
        page.click("#login-test")
        oidc_login(page, "demo-owner")
        page.wait_for_selector("#claim")
        print("   claim page: %s, %s" % (page.inner_text("#host"), page.inner_text("#verification")))
        page.click("#claim")
        page.wait_for_selector("#claimed")
        with page.expect_download() as info:
            page.click("button[id^=download-]")
        archive = machine.base / "downloaded.tar.gz"
        shutil.copy(info.value.path(), archive)
        print("   downloaded %s (%d bytes)" % (archive.name, archive.stat().st_size))

        say(8, "zescrowctl recover: the download unlocks this user's eCryptfs key")
        show(subprocess.run([BIN / "zescrowctl", "recover", str(archive), "--ecryptfs-dir",
                             str(machine.ecryptfs_store(user))], capture_output=True, text=True))

        say(9, "Done; everything is being removed. To try it on a real desktop: README,\n"
               "   'Try it on a real desktop'")
        return 0

    def close(self):
        for undo in reversed(self.cleanup):
            try:
                undo()
            except Exception as err:  # noqa: BLE001 — clean up the rest regardless
                print("cleanup: %s" % err)


STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_on_signal(signum, frame):
    # A killed demo must still remove what it made (user, servers, gpg-agent):
    # turn the signal into an exit that runs the cleanup below.
    raise SystemExit("demo interrupted by %s: removing what it made" % signal.Signals(signum).name)


def main():
    if os.geteuid() != 0:
        raise SystemExit("make demo needs root: it makes a throwaway user and PAM service")
    for signum in STOPPING:
        signal.signal(signum, stop_on_signal)
    story = Story()
    try:
        return story.run()
    finally:
        for signum in STOPPING:  # a second Ctrl-C must not cut the cleanup short
            signal.signal(signum, signal.SIG_IGN)
        story.close()


if __name__ == "__main__":
    sys.exit(main())
