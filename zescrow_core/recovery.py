"""What a custodian signs when they decide on a recovery request (custodians mode).

The server accepts a decision only if this exact statement, canonical JSON
built the same on both sides, is signed by the custodian it names; so a
decision is bound to one request, its escrow and the container the custodian
saw (its own id: the SHA-256 of its nonce and ciphertext), the requester's
key and the share sent with it (docs/formats.md, "zescrow-custodian-decision/1").
"""

import hashlib
import json

FORMAT, VERSION = "zescrow-custodian-decision", 1
APPROVE, DECLINE = "approve", "decline"
MAX_REASON = 1000


def statement(request, escrow, container, requester, custodian, decision, reason, share):
    """The bytes to sign; `share` is the re-encrypted share (approve) or None (decline)."""
    return json.dumps({"format": FORMAT, "version": VERSION, "request": request,
                       "escrow": escrow, "container": container, "requester": requester,
                       "custodian": custodian,
                       "decision": decision, "reason": reason[:MAX_REASON],
                       "share_sha256": hashlib.sha256(share).hexdigest() if share else None},
                      sort_keys=True, separators=(",", ":")).encode()
