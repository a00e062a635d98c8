"""The eCryptfs key derivation and cipher, bit-compatible with ecryptfs-utils 111.

`generate_passphrase_sig()` in libecryptfs: SHA-512 over salt‖passphrase,
then 65,535 more rounds of SHA-512 over the previous digest. The 64-byte
result is the key (its first 16 bytes are the AES-128 key that wraps the
MOUNT passphrase); one more SHA-512 of it, first 8 bytes in hex, is the
signature that `Private.sig` and `wrapped-passphrase` store.
"""

import os

SALT_BYTES = 8
DEFAULT_SALT = bytes.fromhex("0011223344556677")  # ECRYPTFS_DEFAULT_SALT_HEX
# The quirk that the vectors confirm: ecryptfs-add-passphrase --fnek uses
# the eight ASCII characters "99887766" as the FNEK salt, not from_hex() of them.
FNEK_SALT = b"99887766"
HASH_ITERATIONS = 65536
MAX_PASSPHRASE_BYTES = 64  # ECRYPTFS_MAX_PASSPHRASE_BYTES, for both passphrases
AES_KEY_BYTES = 16
AES_BLOCK_BYTES = 16
SIG_BYTES = 8


def derive(salt, passphrase):
    """Return (key, signature) for a passphrase, as libecryptfs computes them.

    `passphrase` is any bytes-like object, never decoded: a login password
    need not be valid UTF-8. The returned key is a bytearray so the caller
    can wipe it; the digests in between are immutable and cannot be.
    """
    if len(salt) != SALT_BYTES:
        raise ValueError("an eCryptfs salt is %d bytes" % SALT_BYTES)
    import hashlib  # here: the PAM hook's fast path never derives a key

    sha512 = hashlib.sha512
    # Fed in place, never bytes(passphrase) or salt + passphrase: those would
    # be immutable copies of the secret that no wipe can reach (OpenSSL
    # cleanses its own context when it is freed).
    first = sha512(salt)
    first.update(passphrase)
    digest = first.digest()
    del first
    for _ in range(HASH_ITERATIONS - 1):
        digest = sha512(digest).digest()
    signature = sha512(digest).digest()[:SIG_BYTES].hex()
    return bytearray(digest), signature


def signature(salt, passphrase):
    key, sig = derive(salt, passphrase)
    wipe(key)
    return sig


def aes_ecb(key, data, decrypt):
    """AES-128-ECB over whole blocks, as ecryptfs-utils wraps the passphrase.

    ECB is eCryptfs' format, not our choice: the plaintext is at most four
    blocks of a random passphrase, so ECB's pattern leak says nothing.
    """
    from .openssl_aes import aes128_ecb

    return aes128_ecb(key[:AES_KEY_BYTES], data, decrypt)


def wipe(buf):
    for i in range(len(buf)):
        buf[i] = 0


def signatures(passphrase, salts):
    """The signatures of one passphrase under several salts, in parallel.

    Verifying a setup with encrypted filenames costs two derivations of the
    MOUNT passphrase (FEKEK and FNEK salt), each ~22 ms of SHA-512 that
    holds the GIL. A forked child computes all but the first, on the other
    core, and sends back only the 16-hex-character signature: the secret
    it inherited by fork never leaves its memory, which it discards with
    os._exit (no atexit handlers, no stdio flush).
    """
    salts = list(salts)
    children = [_fork_signature(passphrase, salt) for salt in salts[1:]]
    results = [signature(salts[0], passphrase)]
    for pid, fd in children:
        results.append(_collect(pid, fd))
    return results


def _fork_signature(passphrase, salt):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, write, exit — whatever happens
        code = 1
        try:
            os.close(read_fd)
            os.write(write_fd, signature(salt, passphrase).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _collect(pid, fd):
    with os.fdopen(fd, "rb") as pipe:
        sig = pipe.read(2 * SIG_BYTES + 1).decode("ascii", "replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or len(sig) != 2 * SIG_BYTES:
        raise OSError("the signature worker process failed (status %d)" % status)
    return sig
