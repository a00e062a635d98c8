"""Bit-compatibility with ecryptfs-utils, both ways, with the real tools at test time."""

import os

import pytest

from pam_zescrow import ecryptfs_crypto as crypto
from pam_zescrow import wrapped_passphrase
from pam_zescrow.errors import PasswordTooLong
from pam_zescrow.unwrap import unwrap
from tests.common.ecryptfs_tools import real_add_passphrase, real_unwrap, real_wrap
from tests.conftest import VECTORS, require

CASES = [  # (mount passphrase, login password): lengths, UTF-8 and non-UTF-8 bytes
    (b"0123456789abcdef0123456789abcdef", b"pw"),
    (b"e1925b8e0c9bd602", b"correct horse battery staple"),
    (b"M" * 64, b"x"),
    (b"M" * 63, "Pässwörd-пароль-密码-🔑".encode()),
    (b"abc", b"\xff\xfe latin-1 \xe9t\xe9 not utf-8"),
    (b"a" * 17, b"L" * 64),
]


@pytest.mark.parametrize("mount, login", CASES)
def test_files_from_the_real_tool_unwrap_with_ours(tmp_path, real_tools, mount, login):
    path = real_wrap(tmp_path / "wrapped-passphrase", mount, login)
    parsed = wrapped_passphrase.parse(path.read_bytes(), str(path))
    assert parsed.version == 2
    with unwrap(parsed, login, str(path)) as got:
        assert bytes(got.reveal()) == mount


@pytest.mark.parametrize("mount, login", CASES)
def test_files_from_ours_unwrap_with_the_real_tool(tmp_path, real_tools, mount, login):
    path = tmp_path / "wrapped-passphrase"
    path.write_bytes(wrapped_passphrase.wrap(mount, login))
    rc, out, err = real_unwrap(path, login)
    assert (rc, out) == (0, mount + b"\n"), err


@pytest.mark.root
def test_v1_vectors_unwrap_with_the_real_tool_and_ours(tmp_path, real_tools, vector_cases):
    # v1 takes its salt from ~/.ecryptfsrc, so the real tool needs a home with one.
    require(os.geteuid() == 0, "a private mount namespace for the real tool's home needs root")
    for name in ("v1_default_salt__32hex", "v1_ecryptfsrc_salt__32hex"):
        case = vector_cases[name]
        home = tmp_path / name
        home.mkdir()
        if case["v1_salt_hex"] != "0011223344556677":
            (home / ".ecryptfsrc").write_text("salt=%s\n" % case["v1_salt_hex"])
        password = bytes.fromhex(case["login_password_hex"])
        rc, out, _ = real_unwrap(VECTORS / case["file"], password, home=home)
        assert (rc, out) == (0, case["mount_passphrase"].encode() + b"\n"), name
        from pam_zescrow.ecryptfs_dir import read_v1_salt
        parsed = wrapped_passphrase.parse((VECTORS / case["file"]).read_bytes(), name,
                                          read_v1_salt(str(home / ".ecryptfsrc")))
        with unwrap(parsed, password, name) as got:
            assert bytes(got.reveal()) == case["mount_passphrase"].encode()


def test_wrong_password_fails_in_both(tmp_path, real_tools):
    path = real_wrap(tmp_path / "w", b"k" * 32, b"right")
    rc, out, _ = real_unwrap(path, b"wrong")
    assert rc != 0 and out == b""
    with pytest.raises(Exception) as err:
        unwrap(wrapped_passphrase.parse(path.read_bytes(), "w"), b"wrong", "w")
    assert err.value.code == "wrong-password"


def test_password_over_64_bytes(tmp_path, real_tools, manifest):
    path = real_wrap(tmp_path / "w", b"k" * 32, b"L" * 64)
    rc, out, _ = real_unwrap(path, b"L" * 65)
    # The real tool exits 0 but prints no passphrase: success is in the output.
    assert rc == manifest["negatives"]["login_65_bytes_unwrap_rc"]
    assert b"k" * 32 not in out
    with pytest.raises(PasswordTooLong, match="at most 64"):
        unwrap(wrapped_passphrase.parse(path.read_bytes(), "w"), b"L" * 65, "w")


@pytest.mark.parametrize("mount", [b"0123456789abcdef0123456789abcdef", b"M" * 64, b"x"])
def test_auth_token_signature_agrees_with_ecryptfs_add_passphrase(real_tools, mount):
    assert crypto.signature(crypto.DEFAULT_SALT, mount) == real_add_passphrase(mount)
