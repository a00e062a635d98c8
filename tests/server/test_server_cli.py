"""zescrow-server init and serve as an admin runs them, and the rate limit."""

import os
import shutil
import subprocess
import sys
import tempfile

from tests.common.servers import ZescrowServer, free_port
from tests.server.conftest import upload

CLI = os.path.join(os.path.dirname(sys.executable), "zescrow-server")


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
    data = tempfile.mkdtemp(prefix="zsi-", dir="/tmp")
    try:
        subprocess.run([CLI, "--data", data, "init"], capture_output=True, check=True)
        r = subprocess.run([CLI, "--data", data, "serve"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2
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
