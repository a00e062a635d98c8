"""The escrow server under test: the real program over HTTPS, on SQLite and PostgreSQL."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pam_zescrow import archive, ecryptfs_dir, pipeline, seal
from pam_zescrow.secret import Secret
from tests.common.ecryptfs_tools import make_setup
from tests.common.servers import OidcProvider, Postgres, ZescrowServer, free_port
from tests.conftest import require

MOUNT = b"8a1f5c2e9d3b7a6f0e4c1b8d2a5f9e3c"
LOGIN = b"server test login"
# Known before the OIDC client is registered: 0-3 server, 4-7 strict_server,
# 8-11 two_providers, 12-13 test_owner_pages, 14-15 test_owner_migration.
PORTS = [free_port() for _ in range(20)]
# Each server fixture runs on the venv's stack (PyPI) and on Debian 12's own packages.
BACKENDS = ["sqlite", "postgresql", "debian-sqlite", "debian-postgresql"]


@pytest.fixture(scope="session")
def key_home():
    require(shutil.which("gpg"), "gpg is not installed")
    from zescrow_server.keys import service

    home = tempfile.mkdtemp(prefix="zsk-", dir="/tmp")
    service.generate(home, "zescrow test escrow server")
    yield home
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def server_pub(key_home, tmp_path_factory):
    from zescrow_server.keys.service import ServerKey

    key = ServerKey(key_home)
    path = tmp_path_factory.mktemp("pub") / "server.asc"
    path.write_bytes(key.public_armored)
    return str(path), key.fingerprint


@pytest.fixture(scope="session")
def tls_dir():
    from zescrow_server import selfsigned

    folder = tempfile.mkdtemp(prefix="zst-")
    selfsigned.make(folder, ["127.0.0.1", "localhost"])
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def oidc():
    require(shutil.which("node"), "node is not installed")
    require((Path(__file__).parent.parent / "oidc" / "node_modules" / "oidc-provider").is_dir(),
            "oidc-provider is not installed (make test runs npm ci in tests/oidc)")
    provider = OidcProvider(["https://127.0.0.1:%d/auth/test/callback" % p for p in PORTS])
    yield provider
    provider.close()


@pytest.fixture(scope="session")
def hostile_oidc():
    """A second real provider, which a test can tell to misbehave (hostile.behave)."""
    require(shutil.which("node"), "node is not installed")
    provider = OidcProvider(["https://127.0.0.1:%d/auth/hostile/callback" % p for p in PORTS],
                            hostile=True)
    yield provider
    provider.close()


@pytest.fixture
def hostile(hostile_oidc):
    yield hostile_oidc
    hostile_oidc.behave()  # honest again for the next test


@pytest.fixture(scope="session")
def postgres():
    require(os.path.exists("/usr/lib/postgresql/15/bin/initdb"), "PostgreSQL 15 is missing")
    require(os.geteuid() == 0, "the PostgreSQL cluster runs as nobody, which needs root")
    cluster = Postgres()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def smtp():
    """A real SMTP server (aiosmtpd) that keeps what it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Keep(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.messages = handler.messages
    yield controller
    controller.stop()


def _server(request, key_home, tls_dir, oidc, ports, name, **settings):
    url = None
    stack, _, backend = request.param.rpartition("-")
    port = ports[BACKENDS.index(request.param)]
    if stack:
        require(_debian_stack(), "Debian's python3-fastapi/-sqlalchemy/... are not installed")
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").create_database(
            name + ("_" + stack if stack else ""))
    srv = ZescrowServer(port, key_home, tls_dir, database_url=url, oidc=oidc,
                        stack=stack or "venv", rate_limit_per_minute=0, **settings)
    srv.backend = backend
    return srv


def _debian_stack():
    return subprocess.run(["/usr/bin/python3", "-c", "import fastapi, sqlalchemy, alembic, "
                           "authlib, uvicorn, gunicorn, psycopg2, multipart"],
                          capture_output=True).returncode == 0


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, key_home, tls_dir, oidc, smtp):
    """One running server per database, shared by the tests of that database."""
    srv = _server(request, key_home, tls_dir, oidc, PORTS[0:4], "zescrow_main",
                  download_max_age_seconds=300, smtp_host="127.0.0.1", smtp_port=smtp.port)
    yield srv
    srv.close()


@pytest.fixture(scope="session", params=BACKENDS)
def strict_server(request, key_home, tls_dir, oidc):
    """A server whose downloads need a login from the last 3 seconds."""
    srv = _server(request, key_home, tls_dir, oidc, PORTS[4:8], "zescrow_strict",
                  download_max_age_seconds=3)
    yield srv
    srv.close()


@pytest.fixture(scope="session", params=BACKENDS)
def two_providers(request, key_home, tls_dir, oidc, hostile_oidc):
    """A server with two providers: "test" (honest) and "hostile" (misbehaves on demand)."""
    srv = _server(request, key_home, tls_dir, oidc, PORTS[8:12], "zescrow_two",
                  download_max_age_seconds=300, more_oidc=[("hostile", hostile_oidc)])
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def sealed(server_pub, tmp_path_factory):
    """A real sealed escrow archive for the server key (from the client pipeline)."""
    key_path, fingerprint = server_pub
    folder = tmp_path_factory.mktemp("client")
    setup = make_setup(folder, MOUNT, LOGIN)
    prepared = pipeline.prepare(str(setup), LOGIN)
    return seal.seal(prepared.archive.data, key_path, fingerprint)


@pytest.fixture(scope="session")
def sealed_mismatch(server_pub, tmp_path_factory):
    """Sealed correctly, but its passphrase does not match its Private.sig."""
    key_path, fingerprint = server_pub
    setup = ecryptfs_dir.read(str(make_setup(tmp_path_factory.mktemp("mm"), MOUNT, LOGIN)))
    data = archive.build(setup, Secret(b"not the passphrase of this Private.sig")).data
    return seal.seal(data, key_path, fingerprint)


def upload(server, body, ctype="application/pgp-encrypted", **headers):
    headers = dict({"Content-Type": ctype, "X-Zescrow-Host": "testbox",
                    "X-Zescrow-User": "alice"}, **headers)
    return server.session().post(server.url + "/api/v1/escrows", data=body, headers=headers,
                                 timeout=30)
