"""Secrets with a type and a short life (S1, S2).

A `Secret` holds bytes in a `bytearray` that `wipe()` overwrites. It never
shows its value in `repr`, `str` or a traceback. What CPython cannot do,
said honestly: an immutable `bytes` made from a secret (a hash input, a
slice, the tar in memory) cannot be wiped, so such copies are kept few and
short-lived, and they live only in the process that unwraps — which exits
soon after. Wiping narrows the window; it is not a guarantee.

As a second line of defence, every secret is registered with
`RedactingFilter`, which blanks it out of any log record.
"""

import weakref

_LIVE = weakref.WeakSet()


class Secret:
    __slots__ = ("_buf", "__weakref__")

    def __init__(self, value=b""):
        self._buf = bytearray(value)
        _LIVE.add(self)

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


class RedactingFilter:
    """Replaces the value of any live Secret in a log record by [REDACTED].

    A plain object with `filter(record)`, which is all logging asks of a
    filter: importing logging here would cost every zescrowctl start ~4 ms.
    """

    def filter(self, record):
        text = record.getMessage()
        redacted = redact(text)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


def redact(text):
    """`text` with every live secret (raw, hex or repr) replaced by [REDACTED]."""
    for secret in list(_LIVE):
        raw = bytes(secret._buf)
        if len(raw) < 4:  # too short to search for without blanking everything
            continue
        for form in (raw.decode("utf-8", "replace"), raw.hex(), repr(raw)):
            if form and form in text:
                text = text.replace(form, "[REDACTED]")
    return text
