"""zescrowctl custodian approve|decline URL: a custodian's decision on a recovery request.

Custodians mode (issue #12): the escrow opens only with k custodians'
shares. A custodian runs this on the computer with their OpenPGP key (a
file or a smartcard, through their own gpg). It shows who asks, for which
escrow, why, and the requester's key fingerprint — which the custodian
checks with the person who asked, by a way they trust, because a server
that swapped in its own key would collect the shares. Then it decrypts
their share with their gpg, re-encrypts it to the requester's key, signs a
statement of exactly that and sends it. Decline sends a signed reason.
Nothing is sent unless confirmed (`--yes` with `--expect-requester FPR`
for scripts).
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
    _show(doc, me, out)
    if doc["state"] != "open":
        raise RecoveryRefused(reason="the request is %s: there is nothing to decide"
                              % printable(doc["state"]), what_next="nothing was sent")
    share = None
    if args.action == "approve":  # a decline gives nothing away: no confirmation needed
        if not doc["requester_fingerprint"]:
            raise CustodianNotConfirmed(reason="the requester has not registered their key "
                                        "yet (they run zescrowctl recover --request first)")
        _confirm(args, doc, out)
        share = _reencrypted_share(args, doc, me)
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


def _show(doc, me, out):
    e = doc["escrow"]
    out.write("Recovery request %s\n" % printable(doc["id"]))
    out.write("  asked by:   %s\n" % printable(doc["requested_by"]))
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


def _confirm(args, doc, out):
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
    out.write("Check the requester's key fingerprint with the person who asked, by phone or "
              "in person.\nType the last 8 characters of it to approve: ")
    out.flush()
    answer = sys.stdin.readline().strip().replace(" ", "").upper()
    if not answer or answer != fpr[-8:]:
        raise CustodianNotConfirmed(reason="the answer was not the last 8 characters of the "
                                    "requester's key")


def _reencrypted_share(args, doc, me):
    parsed, sealed = recovery.my_sealed_share(doc, me["fingerprint"])
    plain = recovery.decrypt_own(args.gnupghome, sealed)
    with Secret(bytearray(plain)) as secret:
        share = container.open_share(secret.reveal())
        if share.escrow != parsed["escrow"]:
            raise ShareInvalid(reason="the share you opened belongs to another escrow")
        return recovery.reencrypt(secret.reveal(), doc["requester_key"],
                                  doc["requester_fingerprint"])


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
