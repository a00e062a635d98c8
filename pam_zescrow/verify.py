"""Verify: the unwrapped MOUNT passphrase must match Private.sig.

Line 1 of Private.sig is the signature of the file-encryption key (the
passphrase with the default salt); line 2, when filenames are encrypted,
the FNEK signature (the same passphrase with the salt "99887766"). A key
that does not match is not escrowed: it would be a useless backup.
"""

import hmac
import string
from collections import namedtuple

from . import defaults
from . import ecryptfs_crypto as crypto
from .errors import MissingPrivateSig, SignatureMismatch, UnreadableFile


# fnek_sig is None when filenames are not encrypted.
Verified = namedtuple("Verified", "fekek_sig fnek_sig", defaults=(None,))


def expected_signatures(setup):
    """The signatures Private.sig lists, checked for shape."""
    path = setup.file_path(defaults.PRIVATE_SIG)
    entry = setup.get(defaults.PRIVATE_SIG)
    if entry is None or not entry.data.strip():
        raise MissingPrivateSig(path=path)
    lines = entry.data.decode("ascii", "replace").split()
    if len(lines) > 2 or not all(_is_sig(s) for s in lines):
        raise UnreadableFile(path=path, reason="it should hold one or two signatures of 16 "
                             "hexadecimal characters, one per line")
    return lines


def verify(setup, mount_passphrase):
    """Return the verified signatures, or raise SignatureMismatch."""
    expected = expected_signatures(setup)
    path = setup.file_path(defaults.PRIVATE_SIG)
    passphrase = mount_passphrase.reveal()
    salts = (crypto.DEFAULT_SALT, crypto.FNEK_SALT)[:len(expected)]
    actual = crypto.signatures(passphrase, salts)
    for line, (want, got) in enumerate(zip(expected, actual), start=1):
        if not hmac.compare_digest(want.lower(), got):
            raise SignatureMismatch(path=path, line=line, expected=want, actual=got)
    return Verified(*actual)


def _is_sig(text):
    return len(text) == 16 and all(c in string.hexdigits for c in text)
