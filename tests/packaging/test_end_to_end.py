"""The whole story from the installed packages: `su -l` in a terminal (tmux)
through the system's common-auth, zescrowd as the user, the notification on
dunst, the click, the claim in Chromium through the OIDC provider, the
download, and `zescrowctl recover` proving it unlocks the key. The machine is
left as it was found."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require
from tests.packaging.test_deb import CLEAN_PATH, _apt, debs  # noqa: F401 — fixture
from tests.server.conftest import key_home, server_pub, tls_dir  # noqa: F401 — fixtures

pytestmark = [pytest.mark.slow, pytest.mark.root]
PASSWORD = b"end to end"
MOUNT = b"e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0"


def _wait(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def _su_in_tmux(user, done_file, workdir):
    """`su -l` as an ordinary user (nobody) in a tmux terminal, typing the password."""
    sock = os.path.join(workdir, "tmux.sock")
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    command = "su -l %s -c 'echo logged-in > %s'" % (user, done_file)
    # tmux wants a UTF-8 locale, and runs the command with $SHELL (nobody has no shell).
    env = {"PATH": CLEAN_PATH, "TERM": "xterm", "HOME": workdir, "LANG": "C.UTF-8",
           "SHELL": "/bin/sh"}
    subprocess.run(nobody + ["tmux", "-S", sock, "new-session", "-d", "-s", "login",
                             "-x", "120", "-y", "30", command], check=True, env=env)
    _wait(lambda: "Password" in subprocess.run(
        nobody + ["tmux", "-S", sock, "capture-pane", "-p", "-t", "login"],
        capture_output=True, text=True, env=env).stdout, "su's password prompt", 20)
    subprocess.run(nobody + ["tmux", "-S", sock, "send-keys", "-t", "login",
                             PASSWORD.decode(), "Enter"], check=True, env=env)
    _wait(lambda: os.path.exists(done_file), "the login to finish", 30)
    subprocess.run(nobody + ["tmux", "-S", sock, "kill-server"], capture_output=True, env=env)


def test_from_the_packages_login_to_recovered_key(debs, key_home, tls_dir, server_pub,  # noqa: F811
                                                  real_tools):
    from tests.common.pam import Machine
    from tests.common.servers import OidcProvider, ZescrowServer, free_port
    from tests.daemon.conftest import Desktop
    from tests.server.browser import Browser, claim

    for tool in ("tmux", "su", "dunst", "Xvfb"):
        require(shutil.which(tool), tool + " is not installed")
    require(subprocess.run(["dpkg-query", "-W", "zescrow-client"],
                           capture_output=True).returncode != 0, "zescrow-client is installed")
    require(not os.path.exists("/etc/zescrow"), "/etc/zescrow exists on this machine")
    undo = []
    try:
        port = free_port()
        oidc = OidcProvider(["https://127.0.0.1:%d/auth/test/callback" % port])
        undo.append(oidc.close)
        server = ZescrowServer(port, key_home, tls_dir, oidc=oidc)
        undo.append(server.close)
        installed = _apt("install", str(debs["python3-zescrow"]), str(debs["zescrow-client"]))
        assert installed.returncode == 0, installed.stderr
        undo.append(lambda: (_apt("purge", "zescrow-client", "python3-zescrow"),
                             shutil.rmtree("/etc/zescrow", ignore_errors=True)))
        os.makedirs("/etc/zescrow", exist_ok=True)
        shutil.copy(server.ca, "/etc/zescrow/ca.pem")
        os.chmod("/etc/zescrow/ca.pem", 0o644)
        setup = subprocess.run(["/usr/bin/zescrowctl", "setup", server.url, "--system",
                                "--ca-file", "/etc/zescrow/ca.pem", "--fingerprint",
                                server_pub[1]], capture_output=True, text=True,
                               env={"PATH": CLEAN_PATH})
        assert setup.returncode == 0, setup.stderr

        machine = Machine()
        undo.append(machine.close)
        user = machine.add_user(PASSWORD, MOUNT, shell="/bin/sh")  # su -l needs a real shell
        home = machine.base / user / "home"
        work = tempfile.mkdtemp(prefix="zescrow-e2e-")
        os.chmod(work, 0o777)  # nobody's tmux socket, the user's marker file
        undo.append(lambda: shutil.rmtree(work, ignore_errors=True))

        # 1. The login: su -l in a terminal, through /etc/pam.d/su and common-auth.
        _su_in_tmux(user, os.path.join(work, "done"), work)
        spool = Path("/var/lib/zescrow") / user / "spool"
        _wait(lambda: spool.is_dir() and list(spool.glob("*.json")), "the sealed archive")

        # 2. zescrowd as the user on their desktop: the notification, the click.
        desktop = Desktop(user=user, home=str(home))
        undo.append(desktop.close)
        recorder = home / "bin"
        recorder.mkdir()
        opened = home / "opened"
        (recorder / "xdg-open").write_text("#!/bin/sh\necho \"$1\" > %s\n" % opened)
        os.chmod(recorder / "xdg-open", 0o755)
        shutil.chown(recorder, user, user)
        env = dict(desktop.env, HOME=str(home), PATH="%s:%s" % (recorder, CLEAN_PATH))
        daemon = subprocess.Popen(["setpriv", "--reuid=" + user, "--regid=" + user,
                                   "--init-groups", "/usr/bin/zescrowd", "--follow-seconds",
                                   "120", "--poll-seconds", "0.5"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        undo.append(lambda: daemon.poll() is None and daemon.kill())
        _wait(lambda: desktop.displayed() == 1, "the notification on dunst")
        assert desktop.dunstctl("action", "0").returncode == 0
        _wait(lambda: opened.exists(), "xdg-open")
        claim_url = opened.read_text().strip()
        assert claim_url.startswith(server.url + "/claim/")

        # 3. The claim and the download in Chromium, through the OIDC provider.
        browser = Browser(server.ca)
        undo.append(browser.close)
        page = claim(browser, claim_url, "e2e-owner")
        with page.expect_download() as info:
            page.click("button[id^=download-]")
        archive = Path(work) / "escrow.tar.gz"
        shutil.copy(info.value.path(), archive)
        out, _ = daemon.communicate(timeout=60)
        assert daemon.returncode == 0 and "is claimed" in out, out

        # 4. The download unlocks this user's key.
        recover = subprocess.run(["/usr/bin/zescrowctl", "recover", str(archive),
                                  "--ecryptfs-dir", str(machine.ecryptfs_store(user))],
                                 capture_output=True, text=True, env={"PATH": CLEAN_PATH})
        assert recover.returncode == 0, recover.stderr
        assert "matches its Private.sig" in recover.stdout and "It is the key of" in recover.stdout
    finally:
        for step in reversed(undo):
            try:
                step()
            except Exception:  # noqa: BLE001 — undo the rest regardless
                pass
    assert not os.path.exists("/var/lib/zescrow") and not os.path.exists("/etc/zescrow")
    assert "pam_zescrow" not in Path("/etc/pam.d/common-auth").read_text()
