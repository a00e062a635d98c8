"""AES-128-ECB through the OpenSSL libcrypto that CPython's hashlib already loaded.

Why not the `cryptography` package: importing it costs ~20 ms, more than
a third of our whole unwrap budget (bench/unwrap, docs/BENCHMARKS.md),
for four AES blocks. libcrypto is already mapped into every Debian
python3 process (hashlib links it), so calling its documented EVP API
through ctypes costs ~1 ms and adds no dependency. Keys and plaintexts are
passed as views of the caller's bytearrays (`from_buffer`, no copy), and
the one buffer we allocate is zeroed before it is dropped.
"""

import ctypes

_SONAMES = ("libcrypto.so.3", "libcrypto.so.1.1")
_lib = None


def _libcrypto():
    global _lib
    if _lib is None:
        for name in _SONAMES:
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        else:
            raise OSError("OpenSSL's libcrypto (%s) is not installed" % " or ".join(_SONAMES))
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        lib.EVP_aes_128_ecb.restype = ctypes.c_void_p
        lib.EVP_CipherInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.EVP_CIPHER_CTX_set_padding.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.EVP_CipherUpdate.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_int), ctypes.c_void_p,
                                         ctypes.c_int]
        lib.EVP_CipherFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.POINTER(ctypes.c_int)]
        _lib = lib
    return _lib


def aes128_ecb(key, data, decrypt):
    """Encrypt or decrypt whole 16-byte blocks; returns a new bytearray."""
    if len(key) != 16 or len(data) % 16 or not data:
        raise ValueError("AES-128-ECB needs a 16-byte key and whole 16-byte blocks")
    lib = _libcrypto()
    key_buf = bytearray(key)
    in_buf = bytearray(data)
    out = ctypes.create_string_buffer(len(data) + 16)
    out_len, final_len = ctypes.c_int(0), ctypes.c_int(0)
    ctx = lib.EVP_CIPHER_CTX_new()
    if not ctx:
        raise MemoryError("EVP_CIPHER_CTX_new failed")
    try:
        key_ptr = (ctypes.c_char * 16).from_buffer(key_buf)
        in_ptr = (ctypes.c_char * len(in_buf)).from_buffer(in_buf)
        ok = (lib.EVP_CipherInit_ex(ctx, lib.EVP_aes_128_ecb(), None, key_ptr, None,
                                    0 if decrypt else 1) == 1
              and lib.EVP_CIPHER_CTX_set_padding(ctx, 0) == 1
              and lib.EVP_CipherUpdate(ctx, out, ctypes.byref(out_len), in_ptr,
                                       len(in_buf)) == 1
              and lib.EVP_CipherFinal_ex(ctx, ctypes.byref(out, out_len.value),
                                         ctypes.byref(final_len)) == 1)
        del key_ptr, in_ptr
        if not ok or out_len.value + final_len.value != len(data):
            raise ValueError("OpenSSL AES-128-ECB failed")
        # Copied straight into a bytearray: no immutable bytes of the plaintext.
        result = bytearray(len(data))
        ctypes.memmove((ctypes.c_char * len(data)).from_buffer(result), out, len(data))
        return result
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)  # frees the expanded key schedule too
        ctypes.memset(out, 0, len(out))
        key_buf[:] = bytes(len(key_buf))
        in_buf[:] = bytes(len(in_buf))
