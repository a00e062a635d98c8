"""The client API over real HTTPS, on SQLite and PostgreSQL: HTTP only, nothing patched."""

import hashlib
import time

import pytest

from tests.server.conftest import upload


def _status(server, created):
    return server.session().get("%s/api/v1/escrows/%s" % (server.url, created["id"]),
                                headers={"Authorization": "Bearer " + created["upload_token"]},
                                timeout=10)


def _wait_verified(server, created, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _status(server, created).json()
        if body["verification"] != "pending":
            return body
        time.sleep(0.1)
    raise AssertionError("still pending after %d s" % timeout)


def test_key_publication(server, server_pub):
    s = server.session()
    info = s.get(server.url + "/.well-known/zescrow.json").json()
    assert info == {"api": 1, "fingerprint": server_pub[1], "claim_window_seconds": 86400,
                    "max_upload_bytes": 65536, "recovery": "server", "enrolment": "open"}
    assert s.get(server.url + "/gpg.fingerprint").text.strip() == server_pub[1]
    assert s.get(server.url + "/gpg.pub").text.startswith("-----BEGIN PGP PUBLIC KEY BLOCK")


def test_upload_answers_201_with_claim_and_checks(server, sealed):
    r = upload(server, sealed)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sha256"] == hashlib.sha256(sealed).hexdigest()
    assert body["claim_url"].startswith(server.url + "/claim/")
    assert len(body["claim_url"].rsplit("/", 1)[1]) >= 22  # >= 128 bits
    assert set(body) == {"id", "claim_url", "sha256", "upload_token", "claim_expires_at"}
    status = _wait_verified(server, body)
    assert status["state"] == "unclaimed" and status["verification"] == "verified"


def test_status_needs_the_upload_token(server, sealed):
    body = upload(server, sealed).json()
    s = server.session()
    url = "%s/api/v1/escrows/%s" % (server.url, body["id"])
    assert s.get(url).status_code == 401
    r = s.get(url, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 404 and r.json()["error"] == "not-found"


def test_delete_while_unclaimed(server, sealed):
    body = upload(server, sealed).json()
    r = server.session().delete("%s/api/v1/escrows/%s" % (server.url, body["id"]),
                                headers={"Authorization": "Bearer " + body["upload_token"]})
    assert r.status_code == 204
    assert _status(server, body).status_code == 404


@pytest.mark.parametrize("body, ctype, status, code, words", [
    (b"plain text, not OpenPGP", "application/pgp-encrypted", 422, "not-openpgp",
     "not an encrypted OpenPGP message"),
    (b"x" * (64 * 1024 + 1), "application/pgp-encrypted", 413, "too-large", "at most 65536"),
    (b"", "application/pgp-encrypted", 422, "not-openpgp", "empty"),
    (b"\x85\x01", "text/plain", 415, "unsupported-media-type", "application/pgp-encrypted"),
])
def test_bad_uploads_each_get_their_own_clear_message(server, body, ctype, status, code, words):
    r = upload(server, body, ctype=ctype)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and words in r.json()["message"]


def test_an_upload_to_another_key_is_refused(server, other_key):
    from pam_zescrow import seal

    sealed_other = seal.seal(b"archive", other_key.public_path, other_key.fingerprint)
    r = upload(server, sealed_other)
    assert r.status_code == 422 and r.json()["error"] == "wrong-recipient"
    assert "not to this server's key" in r.json()["message"]


def test_a_useless_escrow_is_marked_failed_with_the_reason(server, sealed_mismatch):
    body = upload(server, sealed_mismatch).json()
    status = _wait_verified(server, body)
    assert status["verification"] == "failed"
    assert "Private.sig" in status["verification_error"]
    assert "useless backup" in status["verification_error"]


def test_errors_are_json_never_a_trace(server):
    s = server.session()
    r = s.get(server.url + "/api/v1/escrows/" + "0" * 32, headers={"Authorization": "Bearer x"})
    assert r.status_code == 404 and set(r.json()) == {"error", "message"}
    r = s.get(server.url + "/no/such/page")
    assert r.status_code == 404 and r.json()["error"] == "not-found"
