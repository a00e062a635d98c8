"""zescrowd against a real escrow server over HTTPS, a real D-Bus and dunst under Xvfb."""

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pam_zescrow import pipeline
from tests.common.ecryptfs_tools import make_setup
from tests.common.servers import ZescrowServer, free_port, wait_until
from tests.conftest import require
from tests.server.conftest import key_home, server_pub, tls_dir  # noqa: F401 — fixtures

MOUNT = b"3c9e1f7a5b2d8c4e6f0a1b3c5d7e9f11"
OTHER_MOUNT = b"7e6d5c4b3a29180f7e6d5c4b3a291800"
CLI = os.path.join(os.path.dirname(sys.executable), "zescrowctl")
LOGIN = b"daemon test login"


@pytest.fixture(scope="session")
def escrow_server(key_home, tls_dir):  # noqa: F811
    srv = ZescrowServer(free_port(), key_home, tls_dir, rate_limit_per_minute=0)
    yield srv
    srv.close()


class Client:
    """One user's client side in a temp folder: enrolment, state, spool, and zescrowd."""

    def __init__(self, base, url, fingerprint, key_file, ca_file):
        self.base = Path(base)
        self.state_dir = self.base / "state"
        self.conf = self.base / "zescrow.conf"
        self.user_conf = self.base / "user.conf"
        lines = ["[server]", "url = %s" % url, "fingerprint = %s" % fingerprint,
                 "key_file = %s" % key_file]
        if ca_file:
            lines.append("ca_file = %s" % ca_file)
        self.conf.write_text("\n".join(lines) + "\n")
        self.url, self.fingerprint, self.key_file = url, fingerprint, key_file
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ZESCROW_")}
        self.env.update(ZESCROW_CONF=str(self.conf), ZESCROW_USER_CONF=str(self.user_conf),
                        ZESCROW_STATE_DIR=str(self.state_dir),
                        ZESCROW_TESTONLY_RETRY_BASE="0.3")
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        import getpass

        self.user_dir = self.state_dir / getpass.getuser()
        self.spool = self.user_dir / "spool"

    def point_at(self, url):
        """Enrol this client with another server URL (the same pinned key)."""
        text = self.conf.read_text()
        self.conf.write_text(text.replace(text.split("url = ")[1].split("\n")[0], url))
        self.url = url

    def spool_archive(self, seal_fingerprint=None, key_file=None):
        setup = make_setup(Path(tempfile.mkdtemp(dir=self.base)), MOUNT, LOGIN)
        prepared = pipeline.prepare(str(setup), LOGIN)
        return pipeline.escrow(prepared, key_file or self.key_file,
                               seal_fingerprint or self.fingerprint, str(self.spool), "tester",
                               host="testbox", server_url=self.url)

    def state(self):
        path = self.user_dir / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def spooled(self):
        return sorted(p.name for p in self.spool.glob("*.json")) if self.spool.exists() else []

    def zescrowd(self, *args, env=None, **popen):
        cmd = [os.path.join(os.path.dirname(sys.executable), "zescrowd")] + list(args)
        return subprocess.Popen(cmd, env=dict(self.env, **(env or {})), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, **popen)

    def zescrowctl(self, *args, env=None):
        cmd = [os.path.join(os.path.dirname(sys.executable), "zescrowctl")] + list(args)
        return subprocess.run(cmd, env=dict(self.env, **(env or {})), capture_output=True,
                              text=True, timeout=60)


@pytest.fixture
def client(tmp_path, escrow_server, server_pub, real_tools):  # noqa: F811
    return Client(tmp_path, escrow_server.url, server_pub[1], server_pub[0], escrow_server.ca)


class FakeFaultyServer:
    """An HTTPS server that misbehaves on purpose (the real one will not): it
    publishes the real key's fingerprint, then answers uploads with a 500 or
    with a 201 whose sha256 is wrong. A fake for a fault, and named so."""

    def __init__(self, tls_dir, fingerprint, mode):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"api": 1, "fingerprint": fingerprint,
                                 "claim_window_seconds": 86400, "max_upload_bytes": 65536})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.posts += 1
                if mode == "500":
                    self._send(500, {"error": "internal", "message": "the disk is on fire"})
                else:
                    self._send(201, {"id": "0" * 32, "claim_url": "https://x/claim/t",
                                     "sha256": "0" * 64, "upload_token": "t",
                                     "claim_expires_at": "2030-01-01T00:00:00Z"})

        self.posts = 0
        self.port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


class Desktop:
    """Xvfb, a private dbus-daemon --session, and dunst: a real notification server."""

    def __init__(self, user=None, home=None):
        """With `user`, the session bus and dunst belong to that user (a session
        bus takes only its owner), as on a real desktop; Xvfb stays root's."""
        self.run_as = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"] \
            if user else []
        self.user_env = {"HOME": home} if home else {}
        self.dir = Path(tempfile.mkdtemp(prefix="zescrow-desktop-"))
        self.display = ":%d" % (90 + os.getpid() % 100)
        self.procs = []
        self.procs.append(subprocess.Popen(["Xvfb", self.display, "-nolisten", "tcp"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))
        socket_path = "/tmp/.X11-unix/X%s" % self.display[1:]
        wait_until(lambda: os.path.exists(socket_path), 20, "Xvfb")
        r_addr, w_addr = os.pipe()
        bus = subprocess.Popen(self.run_as + ["dbus-daemon", "--session", "--nofork",
                                              "--print-address=%d" % w_addr], pass_fds=(w_addr,),
                               stdout=subprocess.DEVNULL, start_new_session=True,
                               env=dict(os.environ, **self.user_env))
        os.close(w_addr)
        self.procs.append(bus)
        self.address = os.read(r_addr, 4096).decode().strip()
        os.close(r_addr)
        self.env = {"DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": self.address}
        self.procs.append(subprocess.Popen(self.run_as + ["dunst"],
                                           env=dict(os.environ, **self.env, **self.user_env),
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))
        wait_until(lambda: self.dunstctl("count", "displayed").returncode == 0, 20, "dunst")

    def dunstctl(self, *args):
        return subprocess.run(self.run_as + ["dunstctl"] + list(args),
                              env=dict(os.environ, **self.env, **self.user_env),
                              capture_output=True, text=True, timeout=10)

    def displayed(self):
        out = self.dunstctl("count", "displayed").stdout.strip()
        return int(out) if out.isdigit() else 0

    def close(self):
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def desktop():
    for tool in ("Xvfb", "dbus-daemon", "dunst", "dunstctl"):
        require(shutil.which(tool), tool + " is not installed")
    d = Desktop()
    yield d
    d.close()


class World:
    """A throwaway machine: its enrolment, state folder, users and files (Machine),
    root's own home, and the files a confused user hands to recover."""

    def __init__(self, server, server_pub):
        from tests.common.pam import Machine

        self.machine = Machine()
        self.server, self.fingerprint = server, server_pub[1]
        self.files = self.machine.base / "files"
        self.files.mkdir(mode=0o755)
        self.ca = self.files / "ca.pem"  # a copy anyone may read
        shutil.copy(server.ca, self.ca)
        os.chmod(self.ca, 0o644)
        self.root_home = self.machine.base / "root-home"
        self.root_home.mkdir(mode=0o700)
        try:
            self.make_wrong_files(server_pub)
        except BaseException:
            self.close()
            raise

    def make_wrong_files(self, server_pub):
        mine = make_setup(Path(tempfile.mkdtemp(dir=self.files)), MOUNT, LOGIN)
        other = make_setup(Path(tempfile.mkdtemp(dir=self.files)), OTHER_MOUNT, LOGIN)
        prepared = pipeline.prepare(str(mine), LOGIN)
        self.archive = self.files / "escrow.tar.gz"
        self.archive.write_bytes(prepared.archive.data)
        entry = pipeline.escrow(prepared, server_pub[0], server_pub[1], str(self.files / "spool"),
                                "tester", host="testbox", server_url=self.server.url)
        self.sealed = Path(entry.sealed_path)
        self.other_setup = other
        self.empty_dir = self.files / "empty"
        self.empty_dir.mkdir()
        for path in self.files.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)

    def enrol(self):
        r = self.run(None, "setup", self.server.url, "--system", "--ca-file", str(self.ca),
                     "--fingerprint", self.fingerprint)
        assert r.returncode == 0, r.stderr

    def run(self, user, *args):
        """zescrowctl as root (user None) or as `user`, with no terminal."""
        env = {"PATH": os.environ["PATH"], "ZESCROW_CONF": str(self.machine.conf),
               "ZESCROW_STATE_DIR": str(self.machine.state_dir), "LANG": "C.UTF-8"}
        argv = [CLI] + list(args)
        if user is None:
            env.update(HOME=str(self.root_home), USER="root", LOGNAME="root")
        else:
            env.update(HOME=str(self.machine.base / user / "home"), USER=user, LOGNAME=user)
            argv = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"] + argv
        return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60, start_new_session=True)

    def close(self):
        self.machine.close()


@pytest.fixture
def world(escrow_server, server_pub, real_tools):
    require(os.geteuid() == 0, "throwaway users need root")
    w = World(escrow_server, server_pub)
    yield w
    w.close()


def finish(proc, timeout=30):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("zescrowd did not exit:\n" + out)
    return proc.returncode, out


def wait_for(check, timeout=20, what="it"):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)
