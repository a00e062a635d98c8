"""Mail, when SMTP is configured: an owner's escrow was downloaded (S6); in custodians
mode, a recovery request to its custodians and its owner, and how it ended."""

import logging
import smtplib
from email.message import EmailMessage

log = logging.getLogger("zescrow.server.mail")


def notice_address(settings, who):
    """Where a download notice for `who` would go, or "" (pages promise a mail only then)."""
    if not settings.smtp_host or not who:
        return ""
    return who.get("email") or ""


def download_notice(settings, escrow, who, source):
    to = escrow.owner_email
    if not settings.smtp_host or not to:
        return False
    msg = EmailMessage()
    msg["From"], msg["To"] = settings.smtp_from, to
    msg["Subject"] = "Your zescrow key backup was downloaded"
    msg.set_content(
        "The escrow of the eCryptfs key of %s@%s (uploaded %s UTC, sha256 %s) was just\n"
        "downloaded by %s from %s.\n\nIf this was not you, tell your escrow server's "
        "administrator now.\n" % (escrow.username or "?", escrow.host or "?",
                                  escrow.created_at.strftime("%Y-%m-%d %H:%M"), escrow.sha256,
                                  who["display"], source or "an unknown address"))
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(msg)
        return True
    except (OSError, smtplib.SMTPException) as err:
        log.error("could not mail the download notice for escrow %s: %s", escrow.id, err)
        return False


def send(settings, to, subject, text, what):
    """One plain-text mail; False (and a log line naming `what`) when it cannot go."""
    if not settings.smtp_host or not to:
        return False
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = settings.smtp_from, to, subject
        msg.set_content(text)
    except ValueError as err:  # a header that cannot be: never a 500 after a saved step
        log.error("could not mail %s: %s", what, err)
        return False
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(msg)
        return True
    except (OSError, smtplib.SMTPException) as err:
        log.error("could not mail %s to %s: %s", what, to, err)
        return False


def address_in(user_id):
    """The address in an OpenPGP user ID "Name (comment) <addr>", or ""."""
    start, end = user_id.rfind("<"), user_id.rfind(">")
    addr = user_id[start + 1:end] if 0 <= start < end else ""
    return addr if "@" in addr and " " not in addr and len(addr) <= 254 else ""
