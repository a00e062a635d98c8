"""Unwrap: recover the MOUNT passphrase from wrapped-passphrase with the LOGIN password."""

from . import ecryptfs_crypto as crypto
from .errors import CorruptWrappedPassphrase, PasswordTooLong, WrongPassword
from .secret import Secret


def check_length(password, what="password"):
    # libecryptfs refuses a wrapping passphrase over 64 bytes; checking
    # first spares a pointless derivation and gives the real reason.
    if len(password) > crypto.MAX_PASSPHRASE_BYTES:
        raise PasswordTooLong(length=len(password), limit=crypto.MAX_PASSPHRASE_BYTES)


def unwrap(wrapped, login_password, path):
    """Return the MOUNT passphrase as a Secret.

    `wrapped` is a parsed `WrappedPassphrase`; `login_password` a Secret or
    bytes. A password that does not reproduce the wrapping key's signature
    is `WrongPassword` — the same test ecryptfs-unwrap-passphrase makes.
    """
    password = login_password.reveal() if isinstance(login_password, Secret) else login_password
    check_length(password)
    key, sig = crypto.derive(wrapped.salt, password)
    try:
        if sig != wrapped.wrapping_sig:
            raise WrongPassword(path=path)
        plain = crypto.aes_ecb(key, wrapped.ciphertext, decrypt=True)
    finally:
        crypto.wipe(key)
    # The passphrase is a C string inside zero padding: cut at the first NUL.
    end = plain.find(b"\0")
    if end != -1:
        plain[end:] = bytes(len(plain) - end)  # zero in place, then shrink
        del plain[end:]
    mount = Secret.adopt(plain)
    if not mount:
        raise CorruptWrappedPassphrase(path=path, reason="the decrypted passphrase is empty")
    return mount
