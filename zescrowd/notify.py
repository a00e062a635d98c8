"""Desktop notifications through org.freedesktop.Notifications on the session bus (pydbus).

A claim notification carries a "Claim" action (also the default action,
what a click on the bubble does); the daemon hears ActionInvoked and
NotificationClosed while it pumps the GLib main context.

A body is markup to the notification server (the Desktop Notifications
spec's <b>, <i>, <u>, <a href>, <img>; dunst renders them): every
text that goes into one passes through `markup`, so a server's words show
as the characters they are and never as a link whose text differs from
its target.
"""

import logging
from html import escape

from pam_zescrow.printable import printable

log = logging.getLogger("zescrow.notify")
APP = "zescrow"
CLAIM_SUMMARY = "Your encryption key was backed up — claim it now"
REFUSED_SUMMARY = "Your encryption key was backed up — but its claim link was refused"
EXPOSED_SUMMARY = "Your helpdesk recovered your encryption key"
REKEY_DOC = "/usr/share/doc/zescrow-client/docs/rekey.md"


def exposed_lines(record):
    """What the user must know when the helpdesk recovered their escrow (also in
    zescrowctl status): what happened, what it means, what to do."""
    return ["Escrow %s of your eCryptfs key was recovered by your organisation's helpdesk on "
            "%s UTC: %s." % (record.get("escrow"), str(record.get("at", "?")).replace(
                "T", " ").rstrip("Z"), record.get("reason") or "no reason given"),
            "Whoever holds it can open your Private folder, now and later: changing your "
            "login password does not change that key.",
            "To be safe, make a new key and copy your files into it: see %s." % REKEY_DOC]


def markup(text):
    """`text` as a notification body shows it: control characters, &, < and > escaped."""
    return escape(printable(text), quote=False)


class Notifier:
    def __init__(self):
        from gi.repository import GLib
        from pydbus import SessionBus

        self.glib = GLib
        self.bus = SessionBus()
        self.proxy = self.bus.get("org.freedesktop.Notifications",
                                  "/org/freedesktop/Notifications")
        self.proxy.GetServerInformation()  # fails here, not later, when nobody serves it
        self.actions, self.closed = [], []
        self.proxy.ActionInvoked.connect(lambda nid, key: self.actions.append((nid, key)))
        self.proxy.NotificationClosed.connect(lambda nid, why: self.closed.append((nid, why)))

    def claim(self, url, expires):
        body = ("Open this link to claim the backup of your eCryptfs key, before %s:\n%s"
                % (markup(expires), markup(url)))
        return self.proxy.Notify(APP, 0, "dialog-password", CLAIM_SUMMARY, body,
                                 ["default", "Claim", "claim", "Claim"], {}, 30 * 60 * 1000)

    def refused(self, error):
        """A claim link zescrow would not open (ClaimUrlRefused): why, and what to do."""
        return self.info(REFUSED_SUMMARY, error.text + ".", error.hint_text,
                         icon="dialog-warning")

    def info(self, summary, *lines, icon="dialog-information"):
        body = "\n".join(markup(line) for line in lines)
        return self.proxy.Notify(APP, 0, icon, summary, body, [], {}, 60 * 1000)

    def close(self, nid):
        try:
            self.proxy.CloseNotification(nid)
        except Exception:  # noqa: BLE001 — already gone is fine
            pass

    def pump(self, seconds):
        """Deliver D-Bus signals for up to `seconds`."""
        import time

        context = self.glib.MainContext.default()
        deadline = time.monotonic() + seconds
        while True:
            while context.pending():
                context.iteration(False)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.02))


def connect():
    """A Notifier, or None when there is no session bus or notification server."""
    try:
        return Notifier()
    except Exception as err:  # noqa: BLE001 — headless or ssh: the URL waits in status
        log.info("no desktop notifications (%s): the claim URL is in zescrowctl status",
                 type(err).__name__)
        return None
