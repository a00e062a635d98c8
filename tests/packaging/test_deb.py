"""zescrow-client as a Debian package: it builds, lintian is clean, and it installs,
registers its PAM profile, escrows at a login through the system's common-auth,
and goes away again on remove and purge."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, require
from tests.daemon.conftest import escrow_server  # noqa: F401 — fixture
from tests.server.conftest import key_home, server_pub, tls_dir  # noqa: F401 — fixtures

pytestmark = [pytest.mark.slow, pytest.mark.root]
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # pybuild must find Debian's python3.11


@pytest.fixture(scope="module")
def deb():
    for tool in ("dpkg-buildpackage", "dh_python3", "lintian"):
        require(shutil.which(tool), tool + " is not installed")
    work = Path(tempfile.mkdtemp(prefix="zescrow-deb-"))
    src = work / "zescrow"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    proc = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                          capture_output=True, text=True,
                          env=dict(os.environ, PATH=CLEAN_PATH))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [path] = list(work.glob("zescrow-client_*_all.deb"))
    yield path
    shutil.rmtree(work, ignore_errors=True)


def test_lintian_reports_no_errors_or_warnings(deb):
    proc = subprocess.run(["lintian", "--tag-display-limit", "0", str(deb)],
                          capture_output=True, text=True)
    tags = [l for l in proc.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert tags == [], proc.stdout


def test_the_package_holds_the_client_and_not_the_server(deb):
    listing = subprocess.run(["dpkg", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    for path in ("usr/lib/python3/dist-packages/pam_zescrow/hook.py",
                 "usr/share/pam-configs/zescrow", "usr/lib/systemd/user/zescrowd.service",
                 "usr/lib/systemd/user/zescrowd.path", "usr/lib/systemd/user/zescrowd.timer",
                 "usr/bin/zescrowctl", "usr/bin/zescrowd", "usr/share/man/man1/zescrowctl.1.gz",
                 "usr/share/man/man8/zescrowd.8.gz", "usr/share/doc/zescrow-client/README.md"):
        assert "./" + path in listing, path
    assert "zescrow_server" not in listing and "tests/" not in listing


def test_install_registers_the_profile_and_remove_purge_take_it_back(deb):
    installed = subprocess.run(["dpkg-query", "-W", "zescrow-client"], capture_output=True)
    require(installed.returncode != 0, "zescrow-client is installed on this machine already")
    require(not os.path.exists("/etc/zescrow"), "/etc/zescrow exists on this machine")
    common_auth = Path("/etc/pam.d/common-auth").read_text()
    try:
        proc = subprocess.run(["apt-get", "install", "-y", "-q", str(deb)], capture_output=True,
                              text=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        auth = [l for l in Path("/etc/pam.d/common-auth").read_text().splitlines()
                if l.startswith("auth")]
        ours = [i for i, l in enumerate(auth) if "pam_zescrow/hook.py" in l]
        assert len(ours) == 1 and "optional" in auth[ours[0]] and "expose_authtok" in auth[ours[0]]
        assert all(i < ours[0] for i, l in enumerate(auth) if "pam_unix" in l or
                   "pam_ecryptfs" in l)
        help_text = subprocess.run(["/usr/bin/zescrowctl", "--help"], capture_output=True,
                                   text=True, env=dict(os.environ, PATH=CLEAN_PATH))
        assert help_text.returncode == 0 and "recover" in help_text.stdout
        subprocess.run(["apt-get", "remove", "-y", "-q", "zescrow-client"], check=True,
                       capture_output=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert "pam_zescrow" not in Path("/etc/pam.d/common-auth").read_text()
        assert os.path.isdir("/var/lib/zescrow")  # remove keeps what waits in the spool
        subprocess.run(["apt-get", "purge", "-y", "-q", "zescrow-client"], check=True,
                       capture_output=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert not os.path.exists("/var/lib/zescrow") and not os.path.exists("/etc/zescrow")
    finally:
        subprocess.run(["apt-get", "purge", "-y", "-q", "zescrow-client"], capture_output=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert Path("/etc/pam.d/common-auth").read_text() == common_auth


def test_a_login_through_the_systems_common_auth_escrows(deb, escrow_server, server_pub,
                                                         real_tools):
    """The installed package, the real /etc/pam.d/login (which includes common-auth):
    enrol with zescrowctl setup --system, log a throwaway user in, and zescrowd uploads."""
    from tests.common.pam import Machine

    installed = subprocess.run(["dpkg-query", "-W", "zescrow-client"], capture_output=True)
    require(installed.returncode != 0, "zescrow-client is installed on this machine already")
    require(not os.path.exists("/etc/zescrow"), "/etc/zescrow exists on this machine")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", PATH=CLEAN_PATH)
    machine = Machine()
    try:
        subprocess.run(["apt-get", "install", "-y", "-q", str(deb)], check=True,
                       capture_output=True, env=env)
        os.makedirs("/etc/zescrow", exist_ok=True)
        shutil.copy(escrow_server.ca, "/etc/zescrow/ca.pem")
        os.chmod("/etc/zescrow/ca.pem", 0o644)
        setup = subprocess.run(["/usr/bin/zescrowctl", "setup", escrow_server.url, "--system",
                                "--ca-file", "/etc/zescrow/ca.pem", "--fingerprint",
                                server_pub[1]], capture_output=True, text=True, env=env)
        assert setup.returncode == 0, setup.stderr
        user = machine.add_user(b"system stack password", b"0f" * 16)
        try:
            login = subprocess.run(["pamtester", "login", user, "authenticate"],
                                   input=b"system stack password\n", capture_output=True,
                                   timeout=60)
        except subprocess.TimeoutExpired:  # seen once, not reproduced: say what was running
            tree = subprocess.run(["ps", "-ef", "--forest"], capture_output=True, text=True)
            raise AssertionError("the login hung; processes:\n" + tree.stdout[-4000:])
        assert login.returncode == 0, login.stderr
        spool = Path("/var/lib/zescrow") / user / "spool"
        from tests.daemon.conftest import wait_for

        wait_for(lambda: spool.is_dir() and list(spool.glob("*.json")), what="the spool")
        home = machine.base / user / "home"
        daemon = subprocess.run(["setpriv", "--reuid=" + user, "--regid=" + user,
                                 "--init-groups", "/usr/bin/zescrowd", "--no-notify"],
                                capture_output=True, text=True, timeout=120,
                                env={"PATH": CLEAN_PATH, "HOME": str(home)})
        assert daemon.returncode == 0, daemon.stderr
        status = subprocess.run(["setpriv", "--reuid=" + user, "--regid=" + user,
                                 "--init-groups", "/usr/bin/zescrowctl", "status", "--json"],
                                capture_output=True, text=True, env={"PATH": CLEAN_PATH,
                                                                     "HOME": str(home)})
        import json

        record = json.loads(status.stdout)["escrow"]
        assert record["claim_url"].startswith(escrow_server.url + "/claim/")
        assert record["state"] == "unclaimed"
    finally:
        subprocess.run(["apt-get", "purge", "-y", "-q", "zescrow-client"], capture_output=True,
                       env=env)
        shutil.rmtree("/etc/zescrow", ignore_errors=True)
        machine.close()
    assert not os.path.exists("/var/lib/zescrow")
