"""AES-128-ECB through libcrypto: the FIPS-197 known answer, both ways."""

import pytest

from pam_zescrow.openssl_aes import aes128_ecb

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
PLAIN = bytes.fromhex("00112233445566778899aabbccddeeff")
CIPHER = bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")  # FIPS-197 appendix C.1


def test_fips197_known_answer():
    assert aes128_ecb(KEY, PLAIN, decrypt=False) == CIPHER
    assert aes128_ecb(KEY, CIPHER, decrypt=True) == PLAIN


def test_ecb_is_block_by_block():
    assert aes128_ecb(KEY, PLAIN * 4, decrypt=False) == CIPHER * 4


def test_callers_buffers_are_not_changed():
    key, data = bytearray(KEY), bytearray(PLAIN)
    aes128_ecb(key, data, decrypt=False)
    assert key == KEY and data == PLAIN


@pytest.mark.parametrize("key, data", [(KEY[:15], PLAIN), (KEY, PLAIN[:15]), (KEY, b"")])
def test_bad_sizes_are_refused(key, data):
    with pytest.raises(ValueError):
        aes128_ecb(key, data, decrypt=False)
