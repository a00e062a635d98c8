"""The key derivation and signatures, checked against the shared vectors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pam_zescrow import ecryptfs_crypto as crypto
from pam_zescrow import wrapped_passphrase
from pam_zescrow.errors import PasswordTooLong, WrongPassword
from pam_zescrow.unwrap import unwrap


def test_wrapping_key_signature_matches_every_vector(vector_cases):
    for case in vector_cases.values():
        salt = bytes.fromhex(case["v1_salt_hex"] or case["wrapping_salt_hex"])
        password = bytes.fromhex(case["login_password_hex"])
        assert crypto.signature(salt, password) == case["wrapping_key_sig"], case["name"]


def test_private_sig_signatures_match_the_real_tool(vector_cases):
    for case in vector_cases.values():
        mount = case["mount_passphrase"].encode()
        fekek, fnek = crypto.signatures(mount, [crypto.DEFAULT_SALT, crypto.FNEK_SALT])
        assert fekek == case["private_sig"]["fekek_sig"], case["name"]
        assert fnek == case["private_sig"]["fnek_sig"], case["name"]


def test_fnek_salt_is_ascii_not_hex(vector_cases, manifest):
    # The quirk: from_hex("99887766") would be 4 bytes 0x99 0x88 0x77 0x66.
    assert crypto.FNEK_SALT.hex() == manifest["constants"]["fnek_salt_hex"]
    case = vector_cases["v2_short_ascii_login__32hex"]
    wrong_salt = bytes.fromhex("9988776600000000")
    assert crypto.signature(wrong_salt, case["mount_passphrase"].encode()) != \
        case["private_sig"]["fnek_sig"]


def test_derivation_constants_match_the_manifest(manifest):
    const = manifest["constants"]
    assert crypto.DEFAULT_SALT.hex() == const["default_salt_hex"]
    assert crypto.HASH_ITERATIONS == const["iterations"]


def test_parallel_signatures_equal_sequential_ones():
    mount = b"f" * 32
    assert crypto.signatures(mount, [crypto.DEFAULT_SALT, crypto.FNEK_SALT]) == [
        crypto.signature(crypto.DEFAULT_SALT, mount), crypto.signature(crypto.FNEK_SALT, mount)]


mount_passphrases = st.binary(min_size=1, max_size=64).filter(lambda b: b"\0" not in b)
utf8_passwords = st.text(min_size=1, max_size=16).map(lambda s: s.encode()).filter(
    lambda b: 0 < len(b) <= 64 and b"\0" not in b)


@settings(max_examples=25, deadline=None)
@given(mount=mount_passphrases, password=utf8_passwords)
def test_wrap_then_unwrap_gives_the_passphrase_back(mount, password):
    data = wrapped_passphrase.wrap(mount, password)
    parsed = wrapped_passphrase.parse(data, "prop")
    assert len(data) == 2 + 8 + 16 + len(parsed.ciphertext)
    assert len(parsed.ciphertext) == -(-len(mount) // 16) * 16
    with unwrap(parsed, password, "prop") as got:
        assert bytes(got.reveal()) == mount


@settings(max_examples=10, deadline=None)
@given(password=st.binary(min_size=1, max_size=64).filter(lambda b: b"\0" not in b))
def test_passwords_are_bytes_not_text(password):
    data = wrapped_passphrase.wrap(b"m" * 32, password)
    with unwrap(wrapped_passphrase.parse(data, "p"), password, "p") as got:
        assert bytes(got.reveal()) == b"m" * 32


def test_wrong_password_is_its_own_error():
    data = wrapped_passphrase.wrap(b"a" * 32, b"right")
    with pytest.raises(WrongPassword) as err:
        unwrap(wrapped_passphrase.parse(data, "F"), b"wrong", "F")
    assert err.value.exit_code == 4 and "F" in err.value.text


def test_password_over_64_bytes_is_refused_saying_the_limit():
    data = wrapped_passphrase.wrap(b"a" * 32, b"p" * 64)
    with pytest.raises(PasswordTooLong) as err:
        unwrap(wrapped_passphrase.parse(data, "F"), b"p" * 65, "F")
    assert "at most 64" in err.value.text and "65 bytes" in err.value.text
