"""How zescrowd and zescrowctl write times and fingerprints: one place for both."""

import calendar
import time

ISO = "%Y-%m-%dT%H:%M:%SZ"  # UTC, as the server and state.json write it


def now_iso():
    return time.strftime(ISO, time.gmtime())


def iso(epoch):
    return None if epoch is None else time.strftime(ISO, time.gmtime(epoch))


def seconds_until(moment):
    """Seconds from now until an ISO time (negative once past), or None if unreadable."""
    try:
        return calendar.timegm(time.strptime(moment, ISO)) - time.time()
    except (TypeError, ValueError):
        return None


def spaced_fingerprint(fpr):
    """An OpenPGP fingerprint in groups of four, as administrators read them out."""
    return " ".join(fpr[i:i + 4] for i in range(0, len(fpr or ""), 4))
