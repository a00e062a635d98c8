"""Issue #11, server hardening: bounded decryption, rows that always settle, bounded bodies.

Everything goes to the real server over HTTPS; the archives are built and
sealed with the real tar/gzip code and the real gpg.
"""

import base64
import gzip
import io
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time

import pytest

from pam_zescrow import seal
from tests.server.conftest import upload
from tests.server.test_api import _status, _wait_verified

MiB = 1024 * 1024


# --- finding 2: a decompression bomb, no login needed -----------------------------------

@pytest.fixture(scope="session")
def bomb(server_pub):
    """512 MiB of zeros, bzip2-compressed inside an OpenPGP message to the server key."""
    key_path, fingerprint = server_pub
    home = tempfile.mkdtemp(prefix="zbomb-", dir="/tmp")
    try:
        subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", "--import", key_path],
                       check=True, capture_output=True)
        zeros = subprocess.Popen(["head", "-c", str(512 * MiB), "/dev/zero"],
                                 stdout=subprocess.PIPE)
        sealed = subprocess.run(["gpg", "--homedir", home, "--batch", "--trust-model", "always",
                                 "--compress-algo", "bzip2", "-z", "9", "--encrypt",
                                 "--recipient", fingerprint], stdin=zeros.stdout,
                                capture_output=True, check=True).stdout
        zeros.wait()
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    assert len(sealed) < 2048
    return sealed


def _armor(binary):
    text = base64.b64encode(binary).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN PGP MESSAGE-----\n\n%s\n-----END PGP MESSAGE-----\n" % "\n".join(lines)


def _worker_peaks(server):
    """Peak resident memory (VmHWM, bytes) of each of the server's worker processes."""
    peaks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != server.proc.pid:
                continue
            with open("/proc/%s/status" % pid) as f:
                hwm = [l for l in f if l.startswith("VmHWM:")][0]
        except (OSError, IndexError):
            continue
        peaks[int(pid)] = int(hwm.split()[1]) * 1024
    return peaks


def test_a_decompression_bomb_is_refused_without_swelling_a_worker(server, bomb):
    before = _worker_peaks(server)
    started = time.monotonic()
    r = server.session().post(server.url + "/deposit/index.html",
                              data={"payload": _armor(bomb)}, timeout=60)
    assert time.monotonic() - started < 10
    assert r.status_code == 413 and r.json()["error"] == "too-large", r.text
    created = upload(server, bomb)
    assert created.status_code == 201, created.text
    status = _wait_verified(server, created.json())
    assert status["verification"] == "failed"
    assert "more than" in status["verification_error"], status
    after = _worker_peaks(server)
    assert before and after and set(after) == set(before), "a worker was replaced"
    assert max(after.values()) < 256 * MiB, after


def _sql(server, sql):
    if server.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(server.database_url[len("sqlite:///"):]) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(server.database_url, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def test_a_row_whose_check_never_finishes_is_given_up_after_a_few_attempts(server, sealed):
    # Each round is what a worker that dies while checking the row leaves
    # behind: the row "running", its lease over. It is taken again a few
    # times, and then settled as failed, with the reason, never taken forever.
    created = upload(server, sealed).json()
    _wait_verified(server, created)
    escrow_id = created["id"]
    for _ in range(3):
        _sql(server, "UPDATE escrows SET verification = 'running', verification_lease_until = "
                     "'2000-01-01 00:00:00' WHERE id = '%s'" % escrow_id)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            (state, lease), = _sql(server, "SELECT verification, verification_lease_until "
                                           "FROM escrows WHERE id = '%s'" % escrow_id)
            if state != "running" or str(lease) > "2001":
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the expired lease was not taken again")
        while _status(server, created).json()["verification"] == "pending":
            time.sleep(0.1)
    status = _wait_verified(server, created, timeout=15)
    assert status["verification"] == "failed", status
    assert "attempts" in status["verification_error"], status


# --- finding 3: rows that never settle ----------------------------------------------------

def _pax_mtime(value):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(".ecryptfs/unwrapped-passphrase")
        info.size, info.pax_headers = 3, {"mtime": value}
        tar.addfile(info, io.BytesIO(b"pp\n"))
    return gzip.compress(buf.getvalue())


def _folder_named(name):
    """An archive whose `name` is a folder (with a passphrase file, unless that is it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if name != "unwrapped-passphrase":
            info = tarfile.TarInfo(".ecryptfs/unwrapped-passphrase")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"pp\n"))
        info = tarfile.TarInfo(".ecryptfs/" + name)
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    return gzip.compress(buf.getvalue())


# a gzip header, then a deflate block of the reserved type 3: zlib.error, not OSError
CORRUPT_DEFLATE = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 16


@pytest.mark.parametrize("archive, words", [
    (CORRUPT_DEFLATE, "gzip"),
    (_pax_mtime("1e999"), "time"),
    (_pax_mtime("nan"), "time"),
    (_folder_named("unwrapped-passphrase"), "folder"),
    (_folder_named("Private.sig"), "folder"),
], ids=["corrupt-deflate", "pax-mtime-1e999", "pax-mtime-nan", "passphrase-folder",
        "sig-folder"])
def test_every_archive_settles_failed_with_a_reason(server, server_pub, archive, words):
    created = upload(server, seal.seal(archive, *server_pub))
    assert created.status_code == 201, created.text
    status = _wait_verified(server, created.json(), timeout=15)
    assert status["verification"] == "failed", status
    assert words in status["verification_error"], status


# --- finding 6: bodies are bounded before they are parsed ----------------------------------

def _too_large(r):
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert r.json()["error"] == "too-large" and "at most" in r.json()["message"]


def test_a_huge_urlencoded_deposit_is_refused_before_it_is_parsed(server):
    started = time.monotonic()
    r = server.session().post(server.url + "/deposit/index.html",
                              data=b"payload=" + b"A" * (8 * MiB),
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              timeout=60)
    _too_large(r)
    assert time.monotonic() - started < 5


def test_a_huge_multipart_claim_is_refused(server):
    r = server.session().post(server.url + "/claim/sometoken",
                              files={"csrf": ("big.bin", b"\0" * (8 * MiB))},
                              allow_redirects=False, timeout=60)
    _too_large(r)


def test_a_chunked_body_is_cut_at_the_limit(server):
    def chunks():
        yield b"payload="
        for _ in range(64):
            yield b"A" * (64 * 1024)

    r = server.session().post(server.url + "/deposit/index.html", data=chunks(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              timeout=60)
    _too_large(r)


@pytest.mark.parametrize("path", ["/deposit/index.html", "/claim/sometoken",
                                  "/api/v1/escrows"])
def test_an_announced_huge_body_is_refused_before_it_arrives(server, path):
    # Content-Length says 128 MiB; only the headers are sent. The answer must
    # come at once, not after the server waited for (and parsed) the body.
    ctx = ssl.create_default_context(cafile=server.ca)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/x-www-form-urlencoded\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n" % (path, 128 * MiB)).encode())
        answer = b""
        while b'"too-large"' not in answer:
            chunk = tls.recv(4096)  # the socket's timeout: 10 s
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'"too-large"' in answer, answer
