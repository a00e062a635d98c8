"""The Debian packages: python3-zescrow, zescrow-client and zescrow-server build with
debhelper and pybuild, lintian is clean; the client installs, registers its PAM
profile, escrows at a login through the system's common-auth and goes away again
on remove and purge; the server installs, initialises as its own user and serves."""

import os
import pwd
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
def debs():
    for tool in ("dpkg-buildpackage", "dh_python3", "lintian"):
        require(shutil.which(tool), tool + " is not installed")
    work = Path(tempfile.mkdtemp(prefix="zescrow-deb-"))
    src = work / "zescrow"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    # A git tree of its own, so that what the build leaves behind shows up.
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(src)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(git + args, check=True, capture_output=True)
    proc = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                          capture_output=True, text=True,
                          env=dict(os.environ, PATH=CLEAN_PATH))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # README builds in the tree itself: its outputs are ignored, nothing tracked changes.
    left = subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True)
    assert left.stdout == "", "the build leaves the tree unclean:\n" + left.stdout
    found = {p.name.split("_")[0]: p for p in work.glob("*.deb")  # _all, and _amd64 (the module)
             if "-dbgsym_" not in p.name}
    assert sorted(found) == ["python3-zescrow", "zescrow-client", "zescrow-server"], found
    yield found
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def deb(debs):
    return debs["zescrow-client"]


def _apt(*args, env=None):
    return subprocess.run(["apt-get", "-y", "-q"] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", **(env or {})))


def test_lintian_reports_no_errors_or_warnings(debs):
    proc = subprocess.run(["lintian", "--tag-display-limit", "0"] + [str(p) for p in
                                                                     debs.values()],
                          capture_output=True, text=True)
    tags = [l for l in proc.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert tags == [], proc.stdout


def test_each_package_holds_its_part(debs):
    def listing(name):
        return subprocess.run(["dpkg", "-c", str(debs[name])], capture_output=True, text=True,
                              check=True).stdout

    lib, server = listing("python3-zescrow"), listing("zescrow-server")
    assert "dist-packages/pam_zescrow/hook.py" in lib and "zescrowd" not in lib
    for path in ("usr/bin/zescrow-server", "zescrow_server/templates/claim.html",
                 "zescrow_server/migrations/versions/0001_initial.py",
                 "lib/systemd/system/zescrow-server.service",
                 "usr/share/doc/zescrow-server/examples/zescrow-server.toml",
                 # where the unit's Documentation=, the man page and the errors point
                 "usr/share/doc/zescrow-server/docs/server.md",
                 "usr/share/doc/zescrow-server/docs/errors.md"):
        assert path in server, path
    assert "pam_zescrow" not in server.replace("python3-zescrow", "")
    client = listing("zescrow-client")
    for path in ("usr/share/pam-configs/zescrow", "usr/lib/systemd/user/zescrowd.service",
                 "usr/lib/systemd/user/zescrowd.path", "usr/lib/systemd/user/zescrowd.timer",
                 "lib/systemd/system/zescrow-report.service",
                 "lib/systemd/system/zescrow-report.timer", "usr/bin/zescrowctl", "usr/bin/zescrowd", "usr/share/man/man1/zescrowctl.1.gz",
                 "usr/share/man/man8/zescrowd.8.gz", "usr/share/doc/zescrow-client/README.md",
                 "lib/x86_64-linux-gnu/security/pam_zescrow.so"):
        assert "./" + path in client, path
    assert "zescrow_server" not in client and "tests/" not in client


@pytest.mark.parametrize("package", ["zescrow-client", "zescrow-server"])
def test_the_installed_readme_links_to_documents_that_are_installed(debs, package):
    """/usr/share/doc/PKG/README.md links docs/*.md: each must be in the package."""
    import re

    listing = subprocess.run(["dpkg", "-c", str(debs[package])], capture_output=True,
                             text=True, check=True).stdout
    doc = "./usr/share/doc/%s/" % package
    assert doc + "README.md" in listing
    links = set(re.findall(r"\]\(((?:docs/)?[\w.-]+\.md)(?:#[\w-]*)?\)",
                           (ROOT / "README.md").read_text()))
    assert links, "README.md links no document"
    missing = sorted(link for link in links if doc + link not in listing)
    assert missing == [], "README.md links these, %s does not install them" % package


def test_install_registers_the_profile_and_remove_purge_take_it_back(deb, debs):
    installed = subprocess.run(["dpkg-query", "-W", "zescrow-client"], capture_output=True)
    require(installed.returncode != 0, "zescrow-client is installed on this machine already")
    require(not os.path.exists("/etc/zescrow"), "/etc/zescrow exists on this machine")
    common_auth = Path("/etc/pam.d/common-auth").read_text()
    try:
        proc = _apt("install", str(debs["python3-zescrow"]), str(deb))
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        auth = [l for l in Path("/etc/pam.d/common-auth").read_text().splitlines()
                if l.startswith("auth")]
        ours = [i for i, l in enumerate(auth) if "pam_zescrow.so" in l]
        assert len(ours) == 1 and auth[ours[0]].split() == ["auth", "optional", "pam_zescrow.so"]
        assert all(i < ours[0] for i, l in enumerate(auth) if "pam_unix" in l or
                   "pam_ecryptfs" in l)
        help_text = subprocess.run(["/usr/bin/zescrowctl", "--help"], capture_output=True,
                                   text=True, env=dict(os.environ, PATH=CLEAN_PATH))
        assert help_text.returncode == 0 and "recover" in help_text.stdout
        # The daily coverage report's timer is enabled; unenrolled, its service does nothing.
        timer = Path("/etc/systemd/system/timers.target.wants/zescrow-report.timer")
        assert timer.is_symlink(), "zescrow-report.timer is not enabled"
        subprocess.run(["apt-get", "remove", "-y", "-q", "zescrow-client"], check=True,
                       capture_output=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert "pam_zescrow" not in Path("/etc/pam.d/common-auth").read_text()
        assert os.path.isdir("/var/lib/zescrow")  # remove keeps what waits in the spool
        subprocess.run(["apt-get", "purge", "-y", "-q", "zescrow-client"], check=True,
                       capture_output=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert not os.path.exists("/var/lib/zescrow") and not os.path.exists("/etc/zescrow")
    finally:
        _apt("purge", "zescrow-client", "python3-zescrow")
    assert Path("/etc/pam.d/common-auth").read_text() == common_auth


def test_a_login_through_the_systems_common_auth_escrows(deb, debs, escrow_server, server_pub,
                                                         real_tools):
    """The installed package, the real /etc/pam.d/login (which includes common-auth):
    enrol with zescrowctl setup --system, log a throwaway user in, and zescrowd uploads."""
    from tests.common.pam import Machine, run_until_exit

    installed = subprocess.run(["dpkg-query", "-W", "zescrow-client"], capture_output=True)
    require(installed.returncode != 0, "zescrow-client is installed on this machine already")
    require(not os.path.exists("/etc/zescrow"), "/etc/zescrow exists on this machine")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", PATH=CLEAN_PATH)
    machine = Machine()
    try:
        installed = _apt("install", str(debs["python3-zescrow"]), str(deb))
        assert installed.returncode == 0, installed.stderr
        os.makedirs("/etc/zescrow", exist_ok=True)
        shutil.copy(escrow_server.ca, "/etc/zescrow/ca.pem")
        os.chmod("/etc/zescrow/ca.pem", 0o644)
        setup = subprocess.run(["/usr/bin/zescrowctl", "setup", escrow_server.url, "--system",
                                "--ca-file", "/etc/zescrow/ca.pem", "--fingerprint",
                                server_pub[1]], capture_output=True, text=True, env=env)
        assert setup.returncode == 0, setup.stderr
        user = machine.add_user(b"system stack password", b"0f" * 16)
        # The user's uid is new since boot: pam_ecryptfs leaves its placeholder
        # holding pamtester's output, so wait for the exit, not for EOF.
        login = run_until_exit(["pamtester", "login", user, "authenticate"],
                               input=b"system stack password\n")
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
        _apt("purge", "zescrow-client", "python3-zescrow")
        shutil.rmtree("/etc/zescrow", ignore_errors=True)
        machine.close()
    assert not os.path.exists("/var/lib/zescrow")


def test_the_server_package_initialises_and_serves_as_its_own_user(debs, tmp_path):
    from tests.common.servers import free_port, wait_until
    from tests.server.admin import agents_for

    installed = subprocess.run(["dpkg-query", "-W", "zescrow-server"], capture_output=True)
    require(installed.returncode != 0, "zescrow-server is installed on this machine already")
    require(not os.path.exists("/var/lib/zescrow-server"), "/var/lib/zescrow-server exists")
    had_user = subprocess.run(["getent", "passwd", "zescrow-server"]).returncode == 0
    port = free_port()
    data = "/var/lib/zescrow-server"
    env = {"PATH": CLEAN_PATH}  # the unit's settings come from the folder, as for an admin
    as_server = ["setpriv", "--reuid=zescrow-server", "--regid=zescrow-server", "--init-groups"]
    serve = None
    try:
        proc = _apt("install", str(debs["python3-zescrow"]), str(debs["zescrow-server"]))
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert oct(os.stat(data).st_mode & 0o777) == "0o700"
        # As the README says: init as root. It acts as the folder's owner.
        init = subprocess.run(["/usr/bin/zescrow-server", "init", "--self-signed", "--bind",
                               "127.0.0.1:%d" % port], capture_output=True, text=True, env=env)
        assert init.returncode == 0, init.stderr
        fingerprint = [l.split()[-1] for l in init.stdout.splitlines()
                       if l.startswith("fingerprint:")][0]
        owner = pwd.getpwnam("zescrow-server").pw_uid
        for folder, dirs, files in os.walk(data):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                assert os.lstat(name).st_uid == owner, name
        wait_until(lambda: agents_for(data + "/gnupg") == [], 5, "the end of init's gpg-agent")
        # The unit's ExecStartPre, as the service user, then its ExecStart.
        pre = subprocess.run(as_server + ["/usr/bin/zescrow-server", "init"], capture_output=True,
                             text=True, env=dict(env, ZESCROW_SERVER_DATA_DIR=data))
        assert pre.returncode == 0 and "server key kept" in pre.stdout, pre.stderr
        version = subprocess.run(["/usr/bin/zescrow-server", "--version"], capture_output=True,
                                 text=True)
        assert version.stdout.startswith("zescrow-server "), version
        serve = subprocess.Popen(as_server + ["/usr/bin/zescrow-server", "serve"],
                                 env=dict(env, ZESCROW_SERVER_DATA_DIR=data),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        import requests

        def up():
            s = requests.Session()
            s.trust_env = False
            r = s.get("https://127.0.0.1:%d/.well-known/zescrow.json" % port, timeout=2,
                      verify="/var/lib/zescrow-server/tls/ca.pem")
            return r.ok and r.json()["fingerprint"] == fingerprint

        wait_until(up, 30, "the packaged zescrow-server")
    finally:
        if serve is not None:
            import signal

            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(timeout=20)
        subprocess.run(["gpgconf", "--homedir", "/var/lib/zescrow-server/gnupg", "--kill",
                        "all"], capture_output=True)
        purge = _apt("purge", "zescrow-server", "python3-zescrow")
        # purge keeps the data (the key and every escrow) and says so; the test
        # leaves the machine as it found it.
        assert "is kept" in purge.stdout + purge.stderr
        shutil.rmtree("/var/lib/zescrow-server", ignore_errors=True)
        if not had_user:
            subprocess.run(["deluser", "--system", "zescrow-server"], capture_output=True)
