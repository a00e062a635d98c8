"""zescrowctl recover --request URL: the requester's side of a custodians-mode recovery.

First run: makes this computer's ephemeral key pair for the request (its
private half never leaves ~/.local/share/zescrow/recovery/), registers the
public half, prints its fingerprint for the custodians to check, and says
how many approvals are in. Later runs: once k custodians approved, their
shares are decrypted with that key, combined, and the escrow opened; the
caller (recover.py) then verifies it against Private.sig as for a download.
The key pair is removed once the escrow opened.
"""

import shutil
from urllib.parse import urlsplit

from pam_zescrow.printable import printable

from .. import recovery
from ..errors import RecoveryRefused, RecoveryWaiting


class Opened:
    """The escrow the shares opened; `done()` once the caller used it: only then is the
    recovery key deleted (a failed --rewrap or --ecryptfs-dir must not lose k approvals)."""

    def __init__(self, archive, home):
        self.archive, self.home = archive, home

    def done(self):
        recovery.stop_agent(self.home)
        shutil.rmtree(self.home, ignore_errors=True)


def archive_from_request(args, out):
    """An Opened escrow, or None when there is nothing to do with it yet."""
    link = recovery.Link(args.request, "recover")
    verify = _verify(args, link)
    host = urlsplit(link.server).netloc
    home = recovery.requester_home(link.token)
    try:
        try:
            doc = recovery.checked_request(recovery.call("GET", link.api, verify), host)
        except RecoveryRefused as err:
            if "HTTP 410" in err.details.get("reason", ""):  # closed for good: the key goes
                shutil.rmtree(home, ignore_errors=True)
            raise
        return _register_or_combine(link, verify, host, doc, home, out, args)
    finally:  # gpg's agent for the ephemeral home is not left running (it restarts on demand)
        recovery.stop_agent(home)


def _register_or_combine(link, verify, host, doc, home, out, args):
    if doc["state"] == "declined":  # it can never complete: this computer's key goes
        shutil.rmtree(home, ignore_errors=True)
        declined = sum(1 for d in doc["decisions"] if d["decision"] == "decline")
        raise RecoveryRefused(reason="request %s was declined by %d of its custodians, too "
                              "many for %d approvals" % (printable(doc["id"]), declined,
                                                         doc["threshold"]),
                              what_next="read their reasons on the request's page; ask for "
                              "a new request on the web once they are answered")
    fpr, public = recovery.ephemeral_key(home, doc["id"])
    if doc["requester_fingerprint"] is None:
        recovery.call("PUT", link.api + "/key", verify, body=public,
                      headers={"Content-Type": "application/pgp-keys"})
        doc["requester_fingerprint"] = fpr
    elif doc["requester_fingerprint"] != fpr:
        raise RecoveryRefused(reason="this request already has another requester key (%s), "
                              "not this computer's (%s)" % (doc["requester_fingerprint"], fpr),
                              what_next="run the command on the computer that registered "
                              "first, or ask for a new request on the web")
    out.write("Recovery request %s for %s@%s: %s\n" % (
        printable(doc["id"]), printable(doc["escrow"]["username"]),
        printable(doc["escrow"]["host"]), printable(doc["reason"])))
    out.write("This computer's recovery key: %s\n" % " ".join(
        fpr[i:i + 4] for i in range(0, len(fpr), 4)))
    approved = [d for d in doc["decisions"] if d["decision"] == "approve"]
    declined = [d for d in doc["decisions"] if d["decision"] == "decline"]
    for d in declined:
        out.write("Declined by %s: %s\n" % (printable(d["custodian"][-16:]),
                                            printable(d["reason"])))
    if len(approved) < doc["threshold"]:
        out.write("Tell your custodians this fingerprint yourself (by phone or in person): "
                  "they check it before they approve.\n")
        raise RecoveryWaiting(request=printable(doc["id"]), approved=len(approved),
                              need=doc["threshold"], expires=printable(doc["expires_at"]),
                              declined=("; %d declined" % len(declined)) if declined else "")
    if not (args.show_passphrase or args.rewrap):
        out.write("%d custodians approved. Run the command again with --show-passphrase, or "
                  "--rewrap FILE, to get the key back (this computer keeps its recovery key "
                  "until then).\n" % len(approved))
        return None
    archive = recovery.open_shares(home, doc, host)
    out.write("%d custodians approved; their shares opened the escrow.\n" % len(approved))
    return Opened(archive, home)


def _verify(args, link):
    if args.ca_file:
        return args.ca_file
    try:
        from ..config import ClientConfig

        cfg = ClientConfig()
        return cfg.verify_for(link.server)
    except Exception:  # noqa: B902 — no config is fine: the system's CA store
        return True
