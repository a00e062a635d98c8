"""The hook's log: syslog (authpriv), and a file when the pam.d line names one.

Not the logging package: importing it costs ~10 ms of every login, and the
hook writes a handful of lines. No message is ever built from a secret
(secret.py says why nothing is redacted afterwards). Every line has its
control characters escaped: user names, paths and file names come from
users, and a newline in one would forge a line of its own.
"""

import os
import syslog
import time

from .printable import printable


class HookLog:
    def __init__(self, debug=False, logfile=None):
        self.debug_enabled = debug
        self.fd = None
        syslog.openlog("zescrow", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
        if logfile:
            # Root's file, private: it names users and paths.
            self.fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                              0o600)

    def info(self, message):
        self._write(syslog.LOG_INFO, "info", message)

    def error(self, message):
        self._write(syslog.LOG_ERR, "error", message)

    def debug(self, message):
        if self.debug_enabled:
            self._write(syslog.LOG_DEBUG, "debug", message)

    def _write(self, priority, level, message):
        message = printable(message)
        syslog.syslog(priority, message)
        if self.fd is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            line = "%s zescrow[%d] %s: %s\n" % (stamp, os.getpid(), level, message)
            os.write(self.fd, line.encode("utf-8", "replace"))


def where(err):
    """The file and line an exception came from, for an "unexpected" line.

    The type and the line, never str(err): a stray exception's text could
    quote bytes of the password (UnicodeDecodeError does)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return "%s:%d" % (os.path.basename(tb.tb_frame.f_code.co_filename), tb.tb_lineno)
