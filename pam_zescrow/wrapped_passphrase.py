"""The `wrapped-passphrase` file format, v1 and v2 (ecryptfs-utils 111).

v2: the bytes 0x3a 0x02, an 8-byte salt, the wrapping key's signature as
16 ASCII hex characters, then the AES-128-ECB ciphertext of the zero-padded
MOUNT passphrase (16 to 64 bytes). v1: the 16 hex signature characters and
the ciphertext; its salt is not in the file but comes from `salt=` in
~/.ecryptfsrc or is the default.
"""

import os
import string
from collections import namedtuple

from . import ecryptfs_crypto as crypto
from .errors import CorruptWrappedPassphrase

V2_MAGIC = b"\x3a\x02"
SIG_HEX_CHARS = 16
_HEX = set(string.hexdigits.lower().encode())


class WrappedPassphrase(namedtuple("WrappedPassphrase",
                                   "version salt wrapping_sig ciphertext")):
    """A parsed file; for v1, `salt` is the one supplied from outside."""

    __slots__ = ()

    def to_bytes(self):
        if self.version != 2:
            raise ValueError("only v2 files are written, as ecryptfs-utils 111 does")
        return V2_MAGIC + self.salt + self.wrapping_sig.encode() + self.ciphertext


def parse(data, path, v1_salt=crypto.DEFAULT_SALT):
    """Decode a wrapped-passphrase file's bytes, or raise CorruptWrappedPassphrase."""
    if data[:2] == V2_MAGIC:
        version, salt, rest = 2, bytes(data[2:10]), data[10:]
        if len(salt) != crypto.SALT_BYTES:
            _corrupt(path, "it is truncated inside the salt (%d bytes)" % len(data))
    elif data[:1] == b"\x3a":
        _corrupt(path, "it says format version %d; only 1 and 2 exist" % data[1:2][0]
                 if len(data) > 1 else "it is a single byte")
    else:
        version, salt, rest = 1, bytes(v1_salt), data
    sig = bytes(rest[:SIG_HEX_CHARS])
    if len(sig) != SIG_HEX_CHARS or not set(sig) <= _HEX:
        _corrupt(path, "the wrapping-key signature is not 16 hexadecimal characters")
    ciphertext = bytes(rest[SIG_HEX_CHARS:])
    if not ciphertext:
        _corrupt(path, "it holds no encrypted passphrase (truncated?)")
    if len(ciphertext) % crypto.AES_BLOCK_BYTES:
        _corrupt(path, "the encrypted passphrase is %d bytes, not a multiple of 16 "
                 "(truncated?)" % len(ciphertext))
    if len(ciphertext) > crypto.MAX_PASSPHRASE_BYTES:
        _corrupt(path, "the encrypted passphrase is %d bytes; eCryptfs allows at most %d"
                 % (len(ciphertext), crypto.MAX_PASSPHRASE_BYTES))
    return WrappedPassphrase(version, salt, sig.decode(), ciphertext)


def wrap(mount_passphrase, login_password, salt=None):
    """Wrap a MOUNT passphrase with a LOGIN password into a v2 file's contents.

    What `ecryptfs-wrap-passphrase` writes; used by tests and by recovery
    (re-wrapping a recovered passphrase under a new password).
    """
    from .unwrap import check_length

    check_length(login_password, "login password")
    plain = bytes(mount_passphrase)
    if not plain or b"\0" in plain or len(plain) > crypto.MAX_PASSPHRASE_BYTES:
        raise ValueError("a MOUNT passphrase is 1 to 64 bytes without NUL")
    salt = os.urandom(crypto.SALT_BYTES) if salt is None else bytes(salt)
    key, sig = crypto.derive(salt, login_password)
    padded = bytearray(plain)
    padded.extend(b"\0" * (-len(padded) % crypto.AES_BLOCK_BYTES))
    try:
        ciphertext = crypto.aes_ecb(key, padded, decrypt=False)
    finally:
        crypto.wipe(key)
        crypto.wipe(padded)
    return WrappedPassphrase(2, salt, sig, bytes(ciphertext)).to_bytes()


def _corrupt(path, reason):
    raise CorruptWrappedPassphrase(path=path, reason=reason)
