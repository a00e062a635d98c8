"""Secrets with a type and a short life (S1, S2).

A `Secret` holds bytes in a `bytearray` that `wipe()` overwrites. It never
shows its value in `repr`, `str` or a traceback. What CPython cannot do,
said honestly: an immutable `bytes` made from a secret (a hash input, a
slice, the tar in memory) cannot be wiped, so such copies are kept few and
short-lived, and they live only in the process that unwraps — which exits
soon after. Wiping narrows the window; it is not a guarantee.

No secret is ever passed to a formatting call, so no log line can carry
one. There is deliberately no redaction after the fact: replacing a secret's
value in a line also replaces every innocent occurrence of the same text
(a password equal to the user name turned "user alice" into "user
[REDACTED]"), which tells the reader the secret.
"""

class Secret:
    __slots__ = ("_buf",)

    def __init__(self, value=b""):
        self._buf = bytearray(value)

    @classmethod
    def adopt(cls, buf):
        """Take ownership of a bytearray without copying it (for readinto)."""
        secret = cls()
        secret._buf = buf
        return secret

    def __len__(self):
        return len(self._buf)

    def __bool__(self):
        return bool(self._buf)

    def __repr__(self):
        return "<Secret: %d bytes, hidden>" % len(self._buf)

    __str__ = __repr__

    def reveal(self):
        """The bytes themselves, as a view: callers must not keep it."""
        return memoryview(self._buf)

    def equals(self, other):
        import hmac

        other_bytes = other._buf if isinstance(other, Secret) else bytes(other)
        return hmac.compare_digest(bytes(self._buf), bytes(other_bytes))

    def wipe(self):
        self._buf[:] = bytes(len(self._buf))  # in place: same memory, now zeros
        try:
            self._buf.clear()
        except BufferError:  # a view is still alive; the zeros stay, harmless
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.wipe()

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled")
