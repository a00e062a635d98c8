"""The mails of a helpdesk recovery: the owner hears of each step (S6), the requester of
the decision. Each returns the addresses it reached (none without SMTP)."""

from .. import mail
from ..auth.identity import one_address

DO = ("If you did not expect this, tell your escrow server's administrator now. Once your "
      "key has been recovered, it is no longer secret: re-key your encrypted home (see "
      "zescrowctl status).")


def _what(escrow):
    return "%s@%s (uploaded %s UTC, escrow %s)" % (
        escrow.username or "?", escrow.host or "?",
        escrow.created_at.strftime("%Y-%m-%d %H:%M"), escrow.id)


def _owner(settings, escrow, subject, text):
    sent = mail.send(settings, escrow.owner_email, subject, text + "\n\n" + DO + "\n",
                     "the helpdesk notice")
    return [escrow.owner_email] if sent else []


def requested(settings, escrow, row):
    return _owner(settings, escrow, "The helpdesk asked to recover your zescrow key backup",
                  "%s of the helpdesk asked to recover the eCryptfs key of %s, because:\n\n"
                  "  %s\n\nAn admin other than them must approve it first (request %s)."
                  % (row.requester_display, _what(escrow), row.reason, row.id))


def admins_asked(settings, escrow, row):
    """Each admin listed by address (a `group:` entry has none) hears that a request waits
    for them — not the requester, who may not decide it."""
    link = "%s/helpdesk/requests/%s" % (settings.public_url.rstrip("/"), row.id)
    sent = []
    for entry in settings.admins:
        if entry.startswith("group:") or not (entry.isascii() and one_address(entry)) or \
                entry.lower() == (row.requester_email or "").lower():
            continue
        if mail.send(settings, entry, "zescrow: a helpdesk request waits for an admin's "
                     "decision", "%s of the helpdesk asks to recover the eCryptfs key of %s, "
                     "because:\n\n  %s\n\nAn admin other than them approves or declines it, "
                     "with a reason, within %d hours:\n\n  %s\n" % (
                         row.requester_display, _what(escrow), row.reason,
                         settings.helpdesk_pending_hours, link), "the helpdesk request"):
            sent.append(entry)
    return sent


def decided(settings, escrow, row):
    verb = "approved" if row.state == "approved" else "declined"
    text = ("%s %s the helpdesk's request %s to recover the eCryptfs key of %s, because:\n\n"
            "  %s\n\n(%s asked: %s)" % (row.decider_display, verb, row.id, _what(escrow),
                                        row.decision_reason, row.requester_display, row.reason))
    if verb == "approved":
        text += ("\n\n%s may use the approval until %s UTC."
                 % (row.requester_display, row.approved_until.strftime("%Y-%m-%d %H:%M")))
    sent = _owner(settings, escrow, "The recovery of your zescrow key backup was %s" % verb,
                  text)
    if mail.send(settings, row.requester_email, "Your helpdesk request %s was %s"
                 % (row.id, verb), text + "\n", "the helpdesk decision"):
        sent.append(row.requester_email)
    return sent


def downloaded(settings, escrow, row, source):
    return _owner(settings, escrow, "Your zescrow key backup was recovered by the helpdesk",
                  "%s of the helpdesk downloaded the key of %s from %s (request %s, approved "
                  "by %s), because:\n\n  %s" % (row.requester_display, _what(escrow),
                                                source or "an unknown address", row.id,
                                                row.decider_display, row.reason))


def cancelled(settings, escrow, row, stopped):
    if escrow.exposed_at is not None:
        before = "; your key was recovered before that, and is no longer secret"
    elif stopped:
        before = ", and the custodians' request it started was stopped: your key stays secret"
    else:
        before = ""
    return _owner(settings, escrow, "A helpdesk request for your zescrow key was cancelled",
                  "The server's administrator cancelled the helpdesk's request %s to recover "
                  "the eCryptfs key of %s (asked by %s: %s), because:\n\n  %s\n\nIts "
                  "approval can no longer be used%s." % (
                      row.id, _what(escrow), row.requester_display, row.reason,
                      row.cancel_reason, before))


def custodians_asked(settings, escrow, row):
    return _owner(settings, escrow, "The helpdesk asked the custodians for your zescrow key",
                  "%s of the helpdesk asked the custodians to recover the key of %s (request "
                  "%s, approved by %s), because:\n\n  %s\n\nWhen enough of them approve, "
                  "%s gets your key." % (row.requester_display, _what(escrow), row.id,
                                         row.decider_display, row.reason,
                                         row.requester_display))


def custodians_decided(settings, escrow, row, ready):
    """The custodians' request the helpdesk started is ready (the key leaves) or was
    declined: the owner did not ask for it, so not the owner's "your request" mail."""
    if ready:
        return _owner(settings, escrow, "Your zescrow key was recovered by the helpdesk",
                      "Enough custodians approved the recovery of the key of %s that %s of "
                      "the helpdesk asked for (request %s, approved by %s), because:\n\n  %s"
                      "\n\n%s can now take your key: it is no longer secret."
                      % (_what(escrow), row.requester_display, row.id, row.decider_display,
                         row.reason, row.requester_display))
    return _owner(settings, escrow, "The custodians declined the helpdesk's recovery of your "
                  "zescrow key", "Too many custodians declined the recovery of the key of %s "
                  "that %s of the helpdesk asked for (request %s): your key stays secret."
                  % (_what(escrow), row.requester_display, row.id))
