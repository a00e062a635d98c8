"""Reading wrapped-passphrase files: the vectors, and every way one can be broken."""

import pytest

from pam_zescrow import wrapped_passphrase
from pam_zescrow.errors import CorruptWrappedPassphrase
from pam_zescrow.unwrap import unwrap
from tests.conftest import VECTORS


def _load(case):
    data = (VECTORS / case["file"]).read_bytes()
    salt = bytes.fromhex(case["v1_salt_hex"]) if case["v1_salt_hex"] else None
    return data, (wrapped_passphrase.parse(data, case["file"], salt) if salt
                  else wrapped_passphrase.parse(data, case["file"]))


def test_every_vector_parses_and_unwraps(vector_cases):
    for case in vector_cases.values():
        data, parsed = _load(case)
        assert parsed.version == case["format_version"], case["name"]
        assert parsed.wrapping_sig == case["wrapping_key_sig"]
        assert parsed.ciphertext.hex() == case["ciphertext_hex"]
        with unwrap(parsed, bytes.fromhex(case["login_password_hex"]), case["file"]) as got:
            assert bytes(got.reveal()) == case["mount_passphrase"].encode(), case["name"]


def test_v2_files_are_written_back_byte_for_byte(vector_cases):
    for case in vector_cases.values():
        if case["format_version"] == 2:
            data, parsed = _load(case)
            assert parsed.to_bytes() == data


def test_v1_uses_the_salt_from_outside(vector_cases):
    case = vector_cases["v1_ecryptfsrc_salt__32hex"]
    data = (VECTORS / case["file"]).read_bytes()
    parsed = wrapped_passphrase.parse(data, "f")  # default salt: wrong for this file
    assert parsed.version == 1
    with pytest.raises(Exception) as err:
        unwrap(parsed, case["login_password"].encode(), "f")
    assert err.value.code == "wrong-password"


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d[:5], "truncated inside the salt"),
    (lambda d: d[:20], "not 16 hexadecimal"),
    (lambda d: d[:26], "holds no encrypted passphrase"),
    (lambda d: d[:-3], "not a multiple of 16"),
    (lambda d: b"\x3a\x03" + d[2:], "format version 3"),
    (lambda d: d[:10] + b"zz" + d[12:], "not 16 hexadecimal"),
    (lambda d: d + b"\0" * 48, "at most 64"),
    (lambda d: b"", "not 16 hexadecimal"),
])
def test_corrupt_files_say_what_is_wrong(vector_cases, mutate, reason):
    data = (VECTORS / vector_cases["v2_short_ascii_login__32hex"]["file"]).read_bytes()
    with pytest.raises(CorruptWrappedPassphrase) as err:
        wrapped_passphrase.parse(mutate(data), "/x/wrapped-passphrase")
    assert reason in err.value.text and "/x/wrapped-passphrase" in err.value.text
    assert err.value.exit_code == 6
