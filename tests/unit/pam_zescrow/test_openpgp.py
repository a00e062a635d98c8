"""The OpenPGP packet check the server runs on every upload, without decrypting."""

import base64

import pytest

from pam_zescrow import openpgp, seal


def test_a_real_sealed_archive_names_the_keys_encryption_subkey(server_key, tmp_path):
    sealed = seal.seal(b"archive", server_key.public_path, server_key.fingerprint,
                       home_parent=str(tmp_path))
    listing = server_key.gpg("--with-colons", "--list-keys").stdout.decode()
    subkeys = [line.split(":")[4] for line in listing.splitlines() if line.startswith("sub:")]
    assert openpgp.recipients(sealed) == subkeys


def test_armored_messages_are_read_back(server_key, tmp_path):
    sealed = seal.seal(b"archive", server_key.public_path, server_key.fingerprint,
                       home_parent=str(tmp_path))
    body = base64.encodebytes(sealed).decode()
    armored = "-----BEGIN PGP MESSAGE-----\nVersion: x\n\n%s=abcd\n-----END PGP MESSAGE-----\n" % body
    assert openpgp.dearmor(armored) == sealed


@pytest.mark.parametrize("data, words", [
    (b"hello", "not an OpenPGP packet header"),
    (b"\x84\x05\x03", "past the end"),
    (b"\x85\x01", "truncated"),
    (b"\xc1", "truncated"),
    (bytes([0xC0 | 18, 3, 1, 2, 3]), "not encrypted to a public key"),  # data, no PKESK
    (bytes([0xC0 | 1, 12, 3]) + b"\x11" * 8 + b"\x12\x00\x00", "no encrypted data packet"),
    (bytes([0xC0 | 2, 1, 0]), "packet type 2"),  # a signature is not a message start
])
def test_what_is_not_an_encrypted_message_is_refused(data, words):
    with pytest.raises(openpgp.NotOpenPGP, match=words):
        openpgp.recipients(data)


def test_bad_armor():
    with pytest.raises(openpgp.NotOpenPGP, match="BEGIN PGP MESSAGE"):
        openpgp.dearmor("hello")
    with pytest.raises(openpgp.NotOpenPGP, match="base64"):
        openpgp.dearmor("-----BEGIN PGP MESSAGE-----\n\n!!!\n-----END PGP MESSAGE-----")
