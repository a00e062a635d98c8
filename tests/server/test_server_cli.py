"""zescrow-server init and serve as an admin runs them, and the rate limit."""

import os
import re
import shutil
import signal
import subprocess
import tempfile

from tests.common.servers import ZescrowServer, free_port, wait_until
from tests.conftest import ROOT
from tests.server.admin import CLI, agents_for, as_user, cli, data_folder, throwaway_user
from tests.server.conftest import upload


def test_init_makes_everything_once_and_keeps_it_after():
    data = tempfile.mkdtemp(prefix="zsi-", dir="/tmp")
    try:
        first = subprocess.run([CLI, "--data", data, "init", "--self-signed"],
                               capture_output=True, text=True, check=True).stdout
        fpr = [l.split()[-1] for l in first.splitlines() if l.startswith("fingerprint:")][0]
        assert len(fpr) == 40 and "server key made" in first
        for name in ("zescrow-server.toml", "session.key", "zescrow.db", "tls/ca.pem",
                     "tls/cert.pem", "tls/key.pem", "gnupg"):
            assert os.path.exists(os.path.join(data, name)), name
        assert oct(os.stat(data).st_mode & 0o777) == "0o700"
        assert oct(os.stat(os.path.join(data, "tls/key.pem")).st_mode & 0o777) == "0o600"
        again = subprocess.run([CLI, "--data", data, "init"], capture_output=True, text=True,
                               check=True).stdout
        assert "server key kept" in again and fpr in again
    finally:
        subprocess.run(["gpgconf", "--homedir", data + "/gnupg", "--kill", "all"])
        shutil.rmtree(data, ignore_errors=True)


def test_serve_without_a_certificate_says_what_to_do():
    from zescrow_server.errors import NoCertificate

    data = tempfile.mkdtemp(prefix="zsi-", dir="/tmp")
    try:
        subprocess.run([CLI, "--data", data, "init"], capture_output=True, check=True)
        r = subprocess.run([CLI, "--data", data, "serve"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == NoCertificate.exit_code, r.stderr
        assert "no TLS certificate" in r.stderr and "--self-signed" in r.stderr
        assert "plain_http" in r.stderr
    finally:
        subprocess.run(["gpgconf", "--homedir", data + "/gnupg", "--kill", "all"])
        shutil.rmtree(data, ignore_errors=True)


def test_a_client_over_the_rate_limit_gets_429_with_retry_after(key_home, tls_dir, sealed):
    server = ZescrowServer(free_port(), key_home, tls_dir, rate_limit_per_minute=4, workers=1)
    try:
        codes = [upload(server, sealed) for _ in range(6)]
        assert [r.status_code for r in codes[:1]] == [201]
        limited = [r for r in codes if r.status_code == 429]
        assert limited, [r.status_code for r in codes]
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json()["error"] == "rate-limited"
        assert "try again in" in limited[0].json()["message"]
    finally:
        server.close()


def test_the_hostname_names_the_certificate_and_url_while_bind_takes_an_address():
    port = free_port()
    with data_folder() as default, data_folder() as data:
        assert cli(default, "init", "--hostname", "escrow.example.org").returncode == 0
        toml = open(os.path.join(default, "zescrow-server.toml")).read()
        assert 'bind = "0.0.0.0:8443"' in toml
        assert 'public_url = "https://escrow.example.org:8443"' in toml

        made = cli(data, "init", "--self-signed", "--hostname", "escrow.example.org",
                   "--bind", "127.0.0.1:%d" % port)
        assert made.returncode == 0, made.stderr
        serve = subprocess.Popen([CLI, "--data", data, "serve"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, start_new_session=True)
        try:
            # The certificate is for the name; curl checks it as a client would.
            url = "https://escrow.example.org:%d/gpg.fingerprint" % port
            fetch = ["curl", "-sf", "--resolve", "escrow.example.org:%d:127.0.0.1" % port,
                     "--cacert", os.path.join(data, "tls", "ca.pem"), url]
            wait_until(lambda: subprocess.run(fetch, capture_output=True).returncode == 0
                       or serve.poll() is not None, 30, "zescrow-server on its --bind")
            assert serve.poll() is None, serve.stderr.read().decode()
        finally:
            _stop(serve)


def test_no_command_leaves_a_gpg_agent_running(key_home, sealed):
    port = free_port()
    with data_folder() as data:
        home = os.path.join(data, "gnupg")
        os.mkdir(data, 0o700)  # init keeps the key that `sealed` is sealed to
        shutil.copytree(key_home, home, ignore=shutil.ignore_patterns("S.*", "*.lock"))
        assert cli(data, "init", "--self-signed", "--bind", "127.0.0.1:%d" % port).returncode == 0
        _no_agent(home, "init")
        assert cli(data, "admin", "list").returncode == 0
        _no_agent(home, "admin")
        serve = subprocess.Popen([CLI, "--data", data, "serve", "--workers", "1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            server = _Local(port, data)
            wait_until(lambda: server.session().get(server.url + "/gpg.fingerprint",
                                                    timeout=2).ok, 30, "zescrow-server")
            assert upload(server, sealed).status_code == 201  # decrypted by its worker
            assert agents_for(home), "the server decrypts through a gpg-agent"
        finally:
            # As systemd stops a service: SIGTERM to the main process only.
            serve.terminate()
            serve.wait(timeout=30)
        _no_agent(home, "serve")


def test_init_run_as_root_hands_the_data_folder_to_its_owner():
    with throwaway_user() as user, data_folder() as data:
        os.mkdir(data, 0o700)  # as the package's postinst makes /var/lib/zescrow-server
        os.chown(data, user.pw_uid, user.pw_gid)
        made = cli(data, "init", "--self-signed")
        assert made.returncode == 0, made.stderr
        for folder, dirs, files in os.walk(data):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                assert os.lstat(name).st_uid == user.pw_uid, name
        # The service user can use everything (the unit's ExecStartPre runs init).
        again = cli(data, "init", prefix=as_user(user))
        assert again.returncode == 0, again.stderr
        assert "server key kept" in again.stdout
        assert cli(data, "admin", "list", prefix=as_user(user)).returncode == 0
        _no_agent(os.path.join(data, "gnupg"), "init as root")


def test_version_answers_the_version():
    from pam_zescrow import __version__

    r = subprocess.run([CLI, "--version"], capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip()) == (0, "zescrow-server " + __version__)


def _plain(roff):
    """The words of a man page: no macros, quotes or escaped hyphens."""
    lines = [re.sub(r"^\.[A-Za-z]+ ?", "", line) for line in roff.splitlines()]
    return " ".join(" ".join(lines).replace("\\-", "-").replace('"', "").split())


def _no_agent(home, after):
    # gpgconf --kill returns once the agent has been told; it exits just after.
    wait_until(lambda: agents_for(home) == [], 5, "the end of the gpg-agent of %s" % after)


class _Local:
    """Enough of a ZescrowServer for upload(): its URL and a session that trusts its CA."""

    def __init__(self, port, data):
        self.url = "https://127.0.0.1:%d" % port
        self.ca = os.path.join(data, "tls", "ca.pem")

    def session(self):
        import requests

        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        return s


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_man_page_names_the_user_the_folder_what_root_does_and_every_option():
    from zescrow_server.cli import build_parser

    text = _plain((ROOT / "debian" / "zescrow-server.8").read_text())
    for words in ("system user zescrow-server", "/var/lib/zescrow-server",
                  "Run as root, every command acts as the owner of the data folder",
                  "--bind ADDRESS:PORT", "0.0.0.0:8443"):
        assert words in text, words
    parsers = [build_parser()]
    parsers += next(a for a in parsers[0]._actions if a.__class__.__name__ ==
                    "_SubParsersAction").choices.values()
    options = {o for p in parsers for a in p._actions for o in a.option_strings
               if o.startswith("--") and o != "--help"}
    assert options >= {"--bind", "--version", "--data"}
    assert sorted(o for o in options if o not in text) == []
