"""Real servers for the tests: PostgreSQL, the OIDC provider, and zescrow-server itself.

Each is started on 127.0.0.1 on a free port, as the real program, and
stopped (its whole process group) afterwards.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
OIDC_DIR = ROOT / "tests" / "oidc"
NOBODY = 65534


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as err:  # noqa: BLE001 — keep trying until the deadline
            last = err
        time.sleep(0.1)
    raise RuntimeError("%s did not come up in %d s (%s)" % (what, timeout, last))


class Postgres:
    """A throwaway cluster: initdb refuses root, so it runs as nobody."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="zescrow-pg-"))
        os.chown(self.dir, NOBODY, NOBODY)
        self.port = free_port()
        as_nobody = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]
        subprocess.run(as_nobody + [str(PG_BIN / "initdb"), "-D", str(self.dir / "data"),
                                    "-U", "zescrow", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        subprocess.run(as_nobody + [str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"),
                                    "-l", str(self.dir / "log"), "-w", "start", "-o",
                                    "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on"
                                    % (self.port, self.dir)],
                       check=True, capture_output=True)
        self.as_nobody = as_nobody

    def url(self, database):
        return "postgresql://zescrow@127.0.0.1:%d/%s" % (self.port, database)

    def create_database(self, name):
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "%s"' % name)
        return self.url(name)

    def close(self):
        subprocess.run(self.as_nobody + [str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"),
                                         "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class OidcProvider:
    """panva's oidc-provider under Node, with a dev login screen.

    hostile=True: the same provider, which `behave(...)` tells to misbehave
    (tests/oidc/provider.mjs lists how).
    """

    def __init__(self, redirect_uris, hostile=False):
        self.port = free_port()
        self.issuer = "http://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(["node", str(OIDC_DIR / "provider.mjs")]
                                     + (["--hostile"] if hostile else []) + [str(self.port)]
                                     + list(redirect_uris), cwd=OIDC_DIR,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_until(lambda: requests.get(self.issuer + "/.well-known/openid-configuration",
                                            timeout=2).ok, 20, "the OIDC provider")
        except BaseException:  # never up, or interrupted: do not leave it running
            self.close()
            raise

    def behave(self, **mode):
        """Misbehave from now on as `mode` says (nothing: honest again); hostile only."""
        r = requests.put(self.issuer + "/hostile", json=mode, timeout=10)
        r.raise_for_status()

    def close(self):
        _stop_group(self.proc)


class ZescrowServer:
    """`zescrow-server serve` with its own data folder, over HTTPS with the test CA."""

    def __init__(self, port, key_home, tls_dir, database_url=None, oidc=None, stack="venv",
                 more_oidc=(), init_args=(), **settings):
        """stack="debian": run on /usr/bin/python3 with Debian 12's own packages
        (SQLAlchemy 1.4, FastAPI 0.92, Starlette 0.26 ...) instead of the venv.
        oidc: the provider named "test"; more_oidc: (name, provider) pairs."""
        self.stack = stack
        self.port = port
        self.url = "https://127.0.0.1:%d" % port
        self.data = Path(tempfile.mkdtemp(prefix="zs-"))
        # A copy, not a link: serve stops its gpg-home's agent when it ends,
        # which must not pull the agent from under another running server.
        shutil.copytree(key_home, self.data / "gnupg",
                        ignore=shutil.ignore_patterns("S.*", "*.lock", ".#*"))
        os.symlink(tls_dir, self.data / "tls")
        self.ca = str(Path(tls_dir) / "ca.pem")
        settings.setdefault("workers", 2)
        lines = ['public_url = "%s"' % self.url, 'bind = "127.0.0.1:%d"' % port]
        if database_url:
            lines.append('database_url = "%s"' % database_url)
        for name, value in settings.items():
            lines.append("%s = %s" % (name, '"%s"' % value if isinstance(value, str) else value))
        for name, provider in ([("test", oidc)] if oidc else []) + list(more_oidc):
            lines += ["[[oidc]]", 'name = "%s"' % name, 'title = "%s ID"' % name.title(),
                      'issuer = "%s"' % provider.issuer, 'client_id = "zescrow-test"',
                      'client_secret = "zescrow-test-secret"']
        (self.data / "zescrow-server.toml").write_text("\n".join(lines) + "\n")
        self.database_url = database_url or "sqlite:///%s" % (self.data / "zescrow.db")
        self.init = subprocess.run(self.cli() + ["--data", str(self.data), "init"]
                                   + list(init_args), check=True, capture_output=True, text=True)
        self.proc = None
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    def cli(self):
        if self.stack == "debian":
            return ["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, %r); "
                    "from zescrow_server.cli import run; run()" % str(ROOT)]
        return [os.path.join(os.path.dirname(sys.executable), "zescrow-server")]

    def start(self):
        self.log = open(self.data / "serve.log", "ab")
        self.proc = subprocess.Popen(self.cli() + ["--data", str(self.data), "serve"],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_until(lambda: self.session().get(self.url + "/.well-known/zescrow.json",
                                              timeout=2).ok, 30, "zescrow-server")

    def session(self):
        s = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE override Session.verify: no environment here.
        s.trust_env = False
        s.verify = self.ca
        return s

    def kill(self, sig=signal.SIGKILL):
        _stop_group(self.proc, sig)

    def close(self):
        _stop_group(self.proc)
        # serve stops the agent itself, unless it was killed (kill(SIGKILL)).
        subprocess.run(["gpgconf", "--homedir", str(self.data / "gnupg"), "--kill", "all"],
                       capture_output=True)
        shutil.rmtree(self.data, ignore_errors=True)


def _stop_group(proc, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
