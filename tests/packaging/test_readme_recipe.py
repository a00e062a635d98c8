"""The README's server and enrolment recipe, followed literally from the packages.

The lines of the two recipe blocks in README.md (`<!-- recipe: server -->`,
`<!-- recipe: enrol -->`) are run as an admin would type them, on this
machine as both server and client: `escrow.example.org` resolves to
127.0.0.1 in a private mount namespace (a bind-mounted /etc/hosts), the
`editor` step adds an OpenID Connect provider, and `systemctl enable --now`
— there is no systemd as PID 1 here — runs what the installed unit says
(its User, Environment, ExecStartPre and ExecStart). Then a user logs in
through the system's common-auth, zescrowd uploads, and `zescrowctl status`
shows the claim link on the README's host. The machine is left as found.
"""

import configparser
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, require
from tests.packaging.test_deb import CLEAN_PATH, _apt, debs  # noqa: F401 — fixture

pytestmark = [pytest.mark.slow, pytest.mark.root]
HOST = "escrow.example.org"
UNIT = "/lib/systemd/system/zescrow-server.service"
DATA = "/var/lib/zescrow-server"


def recipe(name):
    """The command lines of README's `<!-- recipe: NAME ... -->` block."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- recipe: %s\b[^>]*-->\s*```sh\n(.*?)```" % name, text, re.S)
    assert match, "README.md has no recipe block %r" % name
    lines = [line.split(" #")[0].strip() for line in match.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def unit_service(path=UNIT):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(path)
    service = parser["Service"]
    env = dict(item.split("=", 1) for item in shlex.split(service.get("Environment", "")))
    return service["User"], env, shlex.split(service["ExecStartPre"]), \
        shlex.split(service["ExecStart"])


class Admin:
    """Runs the admin's commands in a namespace where HOST is this machine."""

    def __init__(self, work):
        self.work = work
        hosts = work / "hosts"
        hosts.write_text(Path("/etc/hosts").read_text() + "\n127.0.0.1 %s\n" % HOST)
        os.chmod(hosts, 0o644)
        self.ns = ["unshare", "-m", "sh", "-c",
                   'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]

    def run(self, argv, user=None, env=None, **kwargs):
        as_user = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"] \
            if user else []
        return subprocess.run(self.ns + as_user + argv, capture_output=True, text=True,
                              env=dict({"PATH": CLEAN_PATH, "LANG": "C.UTF-8"}, **(env or {})),
                              cwd=self.work, **kwargs)

    def start(self, argv, user, env):
        as_user = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"]
        log = open(self.work / "serve.log", "wb")
        return subprocess.Popen(self.ns + as_user + argv, stdout=log, stderr=subprocess.STDOUT,
                                env=dict({"PATH": CLEAN_PATH}, **env), start_new_session=True)


def _port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_the_readme_recipe_serves_enrols_and_escrows(debs, real_tools):  # noqa: F811
    from tests.common.pam import Machine, run_until_exit
    from tests.common.servers import OidcProvider

    for package in ("zescrow-client", "zescrow-server"):
        require(subprocess.run(["dpkg-query", "-W", package], capture_output=True).returncode,
                package + " is installed on this machine already")
    for path in ("/etc/zescrow", DATA, "/var/lib/zescrow"):
        require(not os.path.exists(path), path + " exists on this machine")
    require(_port_free(8443), "port 8443 is in use (the README's server listens there)")
    had_user = subprocess.run(["getent", "passwd", "zescrow-server"],
                              capture_output=True).returncode == 0
    work = Path(tempfile.mkdtemp(prefix="zescrow-readme-"))
    os.chmod(work, 0o755)
    admin, machine, oidc, serve = Admin(work), Machine(), None, None
    try:
        proc = _apt("install", str(debs["python3-zescrow"]), str(debs["zescrow-server"]),
                    str(debs["zescrow-client"]))
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

        # The server, line by line.
        fingerprint = None
        for line in recipe("server"):
            argv = shlex.split(line)
            if argv[0] == "zescrow-server":
                done = admin.run(argv)
                assert done.returncode == 0, (line, done.stderr)
                found = re.search(r"^fingerprint: ([0-9A-F]{40})$", done.stdout, re.M)
                fingerprint = found.group(1) if found else fingerprint
            elif argv[0] == "editor":
                assert argv[1:] == [DATA + "/zescrow-server.toml"], line
                oidc = OidcProvider(["https://%s:8443/auth/test/callback" % HOST])
                with open(argv[1], "a") as f:
                    f.write('\n[[oidc]]\nname = "test"\ntitle = "Test ID"\nissuer = "%s"\n'
                            'client_id = "zescrow-test"\nclient_secret = "zescrow-test-secret"\n'
                            % oidc.issuer)
            elif argv == ["systemctl", "enable", "--now", "zescrow-server"]:
                user, env, pre, start = unit_service()
                done = admin.run(pre, user=user, env=env)
                assert done.returncode == 0, ("ExecStartPre", done.stderr)
                serve = admin.start(start, user, env)
                _wait(lambda: not _port_free(8443) or serve.poll() is not None, "the server")
                assert serve.poll() is None, (work / "serve.log").read_text()
            else:
                raise AssertionError("README's server recipe has a line this test does not "
                                     "know how to follow: %r" % line)
        assert fingerprint, "init printed no fingerprint"

        # The client: the CA copied over, then the enrolment line.
        shutil.copy(DATA + "/tls/ca.pem", work / "ca.pem")
        [line] = recipe("enrol")
        done = admin.run(shlex.split(line.replace("FINGERPRINT", fingerprint)))
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        for path in ("/etc/zescrow", "/etc/zescrow/zescrow.conf", "/etc/zescrow/ca.pem"):
            assert os.stat(path).st_mode & 0o005, path  # every user's zescrowd reads them

        # A user logs in through the system's common-auth; zescrowd uploads.
        user = machine.add_user(b"readme password", b"12" * 16)
        login = run_until_exit(["pamtester", "login", user, "authenticate"],
                               input=b"readme password\n")
        assert login.returncode == 0, login.stderr
        spool = Path("/var/lib/zescrow") / user / "spool"
        _wait(lambda: spool.is_dir() and list(spool.glob("*.json")), "the spool")
        home = {"HOME": str(machine.base / user / "home")}
        daemon = admin.run(["/usr/bin/zescrowd", "--no-notify"], user=user, env=home,
                           timeout=120)
        assert daemon.returncode == 0, daemon.stderr
        status = admin.run(["/usr/bin/zescrowctl", "status", "--json"], user=user, env=home)
        record = json.loads(status.stdout)["escrow"]
        assert record["claim_url"].startswith("https://%s:8443/claim/" % HOST), record
    finally:
        if serve is not None and serve.poll() is None:
            os.killpg(serve.pid, 15)
            serve.wait(timeout=20)
        if oidc is not None:
            oidc.close()
        subprocess.run(["gpgconf", "--homedir", DATA + "/gnupg", "--kill", "all"],
                       capture_output=True)
        _apt("purge", "zescrow-client", "zescrow-server", "python3-zescrow")
        for path in (DATA, "/etc/zescrow", "/var/lib/zescrow"):
            shutil.rmtree(path, ignore_errors=True)
        if not had_user:
            subprocess.run(["deluser", "--system", "zescrow-server"], capture_output=True)
        machine.close()
        shutil.rmtree(work, ignore_errors=True)


def _wait(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)
