"""The 2012 protocol: the original `zescrow` shell client works against this server.

It fetched /gpg.fingerprint and /gpg.pub, then POSTed the armored archive
as the form field `payload` to /deposit/index.html and printed the answer:
a claim URL whose text after the last `=` starts with the md5 of the
decrypted archive, then `-` and a nonce. So this path decrypts before it
answers (the new API leaves that to the background worker) — bounded, as
an 840-byte message can unpack to 512 MiB: gpg runs as a process of its
own under a memory limit, is killed past LEGACY_PLAINTEXT_LIMIT bytes of
output or LEGACY_SECONDS, and only the md5 is computed here; the archive
is read and checked by the background worker like any other.
"""

import hashlib
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from pam_zescrow import openpgp

from ..errors import ApiError
from ..escrows import service
from ..escrows.routes import ERRORS, client_address, store
from ..keys.service import KeyError_, PlaintextTooLarge

router = APIRouter(tags=["legacy"])
# A 2012 archive is the tar.gz of five small files, about 1 KiB: 64 KiB is
# plenty, and what gpg may write before it is killed costs next to nothing.
LEGACY_PLAINTEXT_LIMIT = 64 * 1024
LEGACY_SECONDS = 10.0


@router.post("/deposit/index.html", response_class=PlainTextResponse, responses=ERRORS)
async def deposit(request: Request, payload: str = Form(..., max_length=200_000)):
    state = request.app.state
    if state.settings.recovery == "custodians":
        raise ApiError("this escrow server keeps keys it cannot read: k of its custodians must "
                       "approve an opening, and the 2012 zescrow client cannot seal to them. "
                       "Install zescrow (zescrowctl setup %s) to escrow here"
                       % state.settings.public_url, 409, "custodians-only")
    if state.settings.enrolment == "required":
        raise ApiError("this escrow server takes uploads only from machines its administrator "
                       "enrolled, and the 2012 zescrow client cannot be enrolled. Install "
                       "zescrow and enrol with the token your administrator gives you "
                       "(zescrowctl setup %s --system --token T)" % state.settings.public_url,
                       403, "not-enrolled")
    wait = state.rate_limiter.retry_after(client_address(request))
    if wait:
        raise ApiError("too many uploads; try again in %d s" % wait, 429, "rate-limited",
                       headers={"Retry-After": str(wait)})
    armored = payload.encode("ascii", "replace")
    if len(armored) > state.settings.max_upload_bytes * 2:
        raise ApiError("the payload is too large", 413, "too-large")
    try:
        binary = openpgp.dearmor(payload)
    except openpgp.NotOpenPGP as err:
        raise ApiError("the payload is not an armored OpenPGP message (%s)" % err, 422,
                       "not-openpgp")
    service.check_sealed(binary, state.key)
    try:
        archive = await run_in_threadpool(state.key.decrypt, binary, LEGACY_PLAINTEXT_LIMIT,
                                          LEGACY_SECONDS)
    except PlaintextTooLarge as err:
        raise ApiError("the payload is not a key archive: %s" % err, 413, "too-large")
    except KeyError_ as err:
        raise ApiError("the payload cannot be decrypted with this server's key (%s)" % err,
                       422, "undecryptable")
    md5 = hashlib.md5(archive).hexdigest()
    token = "%s-%s" % (md5, secrets.token_urlsafe(24))
    await store(state, binary, client_address(request), client_version="2012",
                legacy_md5=md5, claim_token=token)
    url = "%s/claim/index.html?token=%s" % (state.settings.public_url.rstrip("/"), token)
    return PlainTextResponse(url + "\n")
