"""Text that is safe to show: control characters escaped, visibly.

A file name, a user name or a server's answer can carry a newline (which
forges a second log line), an escape sequence (which retitles a terminal or
shows a link whose target differs from its text) or a carriage return
(which hides what came before). Everything zescrow shows in a log or a
terminal that did not come from zescrow itself goes through `printable`.
No `re`: the PAM hook imports this on every login.
"""

_ESCAPES = {i: "\\x%02x" % i for i in list(range(0x20)) + list(range(0x7f, 0xa0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
# Unicode's invisible direction overrides reorder what a reader sees.
_ESCAPES.update({c: "\\u%04x" % c for c in (0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d,
                                            0x202e, 0x2066, 0x2067, 0x2068, 0x2069)})


def printable(text):
    """`text` with every control character written as a visible escape."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    return str(text).translate(_ESCAPES)


class EscapingFilter:
    """A logging filter: each record's final text goes through `printable`.

    A plain object with `filter(record)`, which is all logging asks of a
    filter (importing logging here would cost every zescrowctl start ~4 ms).
    """

    def filter(self, record):
        text = record.getMessage()
        safe = printable(text)
        if safe != text:
            record.msg, record.args = safe, None
        return True
