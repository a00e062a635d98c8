"""zescrowctl custodian approve|decline URL: a custodian's decision on a recovery request.

Custodians mode (issue #12): the escrow opens only with k custodians'
shares. A custodian runs this on the computer with their OpenPGP key (a
file or a smartcard, through their own gpg). It shows who asks, for which
escrow, why, and the requester's key fingerprint — which the custodian
checks with the person who asked, by a way they trust, because a server
that swapped in its own key would collect the shares. Then it decrypts
their share with their gpg, re-encrypts it to the requester's key, signs a
statement of exactly that and sends it. Decline sends a signed reason.
The share itself names whose key it is (user@host, written by the
client that sealed it): that, not the server's word, is who the custodian
calls; and they compare the requester's whole fingerprint with what that
person reads to them. Nothing is sent unless confirmed (`--yes` with
`--expect-requester FPR` for scripts).
"""

import base64
import json
import os
import sys
from urllib.parse import urlsplit

from pam_zescrow.printable import printable
from pam_zescrow.secret import Secret
from zescrow_core import custodians as container
from zescrow_core.errors import ShareInvalid

from .. import recovery
from ..errors import CustodianNotConfirmed, RecoveryRefused
from .command import Command


def run(args, out):
    if args.action == "decline" and not (args.reason or "").strip():
        raise CustodianNotConfirmed(reason="declining needs --reason WHY (the owner reads it)")
    link = recovery.Link(args.url, "approve")
    verify = args.ca_file or True
    host = urlsplit(link.server).netloc
    doc = recovery.checked_request(recovery.call("GET", link.api, verify), host)
    me = recovery.my_custodian(doc, args.gnupghome)
    if doc["state"] != "open":
        _show(doc, me, None, out)
        raise RecoveryRefused(reason="the request is %s: there is nothing to decide"
                              % printable(doc["state"]), what_next="nothing was sent")
    share = None
    if args.action == "approve":  # a decline gives nothing away: no confirmation needed
        if not doc["requester_fingerprint"]:
            _show(doc, me, None, out)
            raise CustodianNotConfirmed(reason="the requester has not registered their key "
                                        "yet (they run zescrowctl recover --request first)")
        share = _approved_share(args, doc, me, out)
    else:
        _show(doc, me, None, out)
    reason = " ".join((args.reason or "").split())
    stmt = recovery.statement(doc, me["fingerprint"], args.action, reason, share)
    signature = recovery.sign(args.gnupghome, me["fingerprint"], stmt)
    body = {"statement": stmt.decode(), "signature": signature}
    if share is not None:
        body["share"] = base64.b64encode(share).decode()
    answer = recovery.call("POST", link.api + "/decision", verify, body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
    state = answer.get("state") if isinstance(answer.get("state"), str) else "?"
    out.write("Sent: you %s request %s (it is now %s).\n"
              % ("approved" if share else "declined", printable(doc["id"]), printable(state)))
    return 0


def _approved_share(args, doc, me, out):
    """Open my share with my own key; show whose it is (from the share itself, which the
    server cannot change); confirm; re-encrypt it to the requester's key alone."""
    parsed, sealed = recovery.my_sealed_share(doc, me["fingerprint"])
    plain = recovery.decrypt_own(args.gnupghome, sealed)
    with Secret(bytearray(plain)) as secret:
        share = container.open_share(secret.reveal())
        if share.escrow != parsed["escrow"]:
            raise ShareInvalid(reason="the share you opened belongs to another escrow")
        _show(doc, me, share.owner, out)
        said = (doc["escrow"]["username"], doc["escrow"]["host"])
        if (share.owner["user"], share.owner["host"]) != said:
            raise CustodianNotConfirmed(reason="your share is the key of %s@%s, but the server "
                                        "says this request is for %s@%s: the server may be "
                                        "trying to get another person's key; tell %s" % (
                                            printable(share.owner["user"]),
                                            printable(share.owner["host"]),
                                            printable(said[0]), printable(said[1]),
                                            printable(share.owner["user"])))
        _confirm(args, doc, share.owner, out)
        return recovery.reencrypt(secret.reveal(), doc["requester_key"],
                                  doc["requester_fingerprint"])


def _show(doc, me, owner, out):
    e = doc["escrow"]
    out.write("Recovery request %s\n" % printable(doc["id"]))
    if owner is not None:
        out.write("  whose key:  %s@%s  (from your share itself: the server cannot change "
                  "this)\n" % (printable(owner["user"]), printable(owner["host"])))
    out.write("  asked by:   %s  (the server's word)\n" % printable(doc["requested_by"]))
    out.write("  because:    %s\n" % printable(doc["reason"]))
    out.write("  escrow:     %s@%s, uploaded %s (sha256 %s…)\n" % (
        printable(e["username"]), printable(e["host"]), printable(e["created_at"]),
        printable(e["sha256"][:16])))
    out.write("  asked at:   %s, expires %s\n" % (printable(doc["created_at"]),
                                                 printable(doc["expires_at"])))
    out.write("  you:        %s (%s)\n" % (printable(me["name"]), me["fingerprint"]))
    approved = sum(1 for d in doc["decisions"] if d["decision"] == "approve")
    out.write("  approvals:  %d of %d needed\n" % (approved, doc["threshold"]))
    out.write("  requester's key: %s\n" % (_spaced(doc["requester_fingerprint"])
                                           if doc["requester_fingerprint"] else "not yet"))


def _spaced(fpr):
    return " ".join(fpr[i:i + 4] for i in range(0, len(fpr), 4))


def _confirm(args, doc, owner, out):
    """The requester's whole fingerprint, as the owner reads it to the custodian: a
    server that swapped in a key of its own cannot match 160 bits (8 characters it could)."""
    fpr = doc["requester_fingerprint"]
    if args.expect_requester is not None:
        given = args.expect_requester.replace(" ", "").upper()
        if given != fpr:
            raise CustodianNotConfirmed(reason="the requester's key is %s, not the %s you "
                                        "expected" % (fpr, printable(given[:64])))
    if args.yes:
        if args.expect_requester is None:
            raise CustodianNotConfirmed(reason="--yes needs --expect-requester FPR: a "
                                        "custodian's confirmation is the requester's key")
        return
    out.write("Call %s yourself (not at a number the request gives) and ask them to read the "
              "fingerprint their zescrowctl recover --request printed.\nType it here (40 "
              "characters; spaces are fine) to approve: " % printable(owner["user"]))
    out.flush()
    answer = sys.stdin.readline().strip().replace(" ", "").upper()
    if answer != fpr:
        raise CustodianNotConfirmed(reason="what you typed is not the requester's key "
                                    "fingerprint")


def add_arguments(parser):
    parser.add_argument("action", choices=("approve", "decline"))
    parser.add_argument("url", metavar="URL", help="the request's custodian link "
                        "(https://SERVER/approve/…)")
    parser.add_argument("--reason", help="why (required to decline; shown to the owner)")
    parser.add_argument("--gnupghome", default=os.environ.get("GNUPGHOME"),
                        help="the gpg home with your custodian key (default: gpg's own)")
    parser.add_argument("--ca-file", metavar="FILE",
                        help="trust the server's certificate from this CA file")
    parser.add_argument("--expect-requester", metavar="FPR",
                        help="refuse unless the requester's key has this fingerprint")
    parser.add_argument("--yes", action="store_true",
                        help="do not ask (needs --expect-requester)")


command = Command("custodian", "as a custodian: approve or decline a recovery request",
                  add_arguments, run)
