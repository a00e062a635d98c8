"""The client API: upload, status, delete (DESIGN.md "Server HTTP contract")."""

import asyncio
from typing import Literal, Optional

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from .. import proxies
from ..errors import ApiError, RequestTimeout
from . import service

router = APIRouter(prefix="/api/v1", tags=["escrows"])
SEALED_TYPES = ("application/pgp-encrypted", "application/octet-stream")
CUSTODIANS_TYPE = "application/vnd.zescrow.custodians+json"  # docs/formats.md


class Created(BaseModel):
    id: str
    claim_url: str
    sha256: str
    upload_token: str
    claim_expires_at: str


class Status(BaseModel):
    id: str
    state: Literal["unclaimed", "claimed", "expired"]
    verification: Literal["pending", "verified", "failed", "client-checked"]
    verification_error: Optional[str]
    claimed_at: Optional[str]
    claim_expires_at: str
    sha256: str


class Error(BaseModel):
    error: str
    message: str


# Errors are JSON on every route, also on those whose success is plain text.
ERRORS = {code: {"model": Error, "content": {"application/json": {}}}
          for code in (400, 401, 404, 408, 409, 411, 413, 415, 422, 429, 507)}


@router.post("/escrows", status_code=201, response_model=Created, responses=ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {
                 media: {"schema": {"type": "string", "format": "binary"}}
                 for media in SEALED_TYPES + (CUSTODIANS_TYPE,)}}})
async def upload(request: Request,
                 x_zescrow_host: str = Header("", max_length=255),
                 x_zescrow_user: str = Header("", max_length=255),
                 x_zescrow_client_version: str = Header("", max_length=64),
                 x_zescrow_voucher: str = Header("", max_length=2048),
                 x_zescrow_voucher_signature: str = Header("", max_length=256)):
    """Store a sealed archive. 201 only once it is committed (S8)."""
    state = request.app.state
    source = client_address(request)
    host_id = None
    if state.settings.enrolment == "required":  # before the body: strangers send nothing
        host_id = await run_in_threadpool(_vouched, state, x_zescrow_voucher,
                                          x_zescrow_voucher_signature, _clean(x_zescrow_user))
    elif x_zescrow_voucher:  # open: a voucher that holds ties the escrow to its host
        host_id = await run_in_threadpool(_vouched_if_so, state, x_zescrow_voucher,
                                          x_zescrow_voucher_signature, _clean(x_zescrow_user))
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    custodians = ctype == CUSTODIANS_TYPE
    if ctype not in SEALED_TYPES and not custodians:
        raise ApiError("the body must be a sealed archive sent as application/pgp-encrypted, "
                       "not %r" % (ctype or "no content type"), 415, "unsupported-media-type")
    sealed = await read_bounded(request, state.settings.max_upload_bytes)
    if custodians:  # its structure, against what this server publishes: it holds no key
        service.check_custodians(sealed, state.custodians)
    else:
        service.check_sealed(sealed, state.key)
    row, claim_token, upload_token = await store(
        state, sealed, source, host=_clean(x_zescrow_host), username=_clean(x_zescrow_user),
        client_version=_clean(x_zescrow_client_version), host_id=host_id,
        verification=service.CLIENT_CHECKED if custodians else service.PENDING)
    return {"id": row["id"], "claim_url": claim_url(state.settings, claim_token),
            "sha256": row["sha256"], "upload_token": upload_token,
            "claim_expires_at": service._iso(row["claim_expires_at"])}


@router.get("/escrows/{escrow_id}", response_model=Status, responses=ERRORS)
def get_status(escrow_id: str, request: Request, authorization: str = Header("")):
    token = service.require_upload_token(authorization)
    with request.app.state.sessions() as session:
        return service.status(service.by_upload_token(session, escrow_id, token))


@router.delete("/escrows/{escrow_id}", status_code=204, response_class=Response,
               responses=ERRORS)
def delete(escrow_id: str, request: Request, authorization: str = Header("")):
    token = service.require_upload_token(authorization)
    source = client_address(request)
    with request.app.state.sessions() as session:
        service.delete_unclaimed(session, escrow_id, token, source)
    return Response(status_code=204)


async def store(state, sealed, source, **fields):
    """Commit a new escrow (group commit); return (row, claim_token, upload_token).

    The commit takes from the quotas: RateLimited or StorageFull instead.
    """
    row, audit_row, claim_token, upload_token = service.new_upload(
        sealed, state.settings, source, **fields)
    await asyncio.wrap_future(state.writer.submit(row, audit_row, source))
    state.verifier_wakeup.set()
    return row, claim_token, upload_token


async def read_bounded(request, limit):
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError("the upload is %s bytes; this server takes at most %d" % (length, limit),
                       413, "too-large")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                raise ApiError("the upload is over %d bytes, this server's limit" % limit, 413,
                               "too-large")
    except ClientDisconnect:  # gone, or cut off by the deadline: nobody hears the answer
        raise RequestTimeout(request.app.state.settings.request_timeout_seconds) from None
    if not body:
        raise ApiError("the upload is empty: send the sealed archive as the body", 422,
                       "not-openpgp")
    return bytes(body)


def claim_url(settings, token):
    return "%s/claim/%s" % (settings.public_url.rstrip("/"), token)


def _vouched(state, voucher, signature, username):
    """The id of the enrolled host that vouches for this upload; NotEnrolled if none."""
    from ..hosts import service as hosts

    with state.sessions() as session:
        return hosts.check_voucher(session, voucher, signature, username).id


def _vouched_if_so(state, voucher, signature, username):
    """Open enrolment: the vouching host's id if the voucher holds, else None (an open
    server takes the upload either way; it is then covered by no host)."""
    from ..hosts.service import NotEnrolled

    try:
        return _vouched(state, voucher, signature, username)
    except NotEnrolled:
        return None


def client_address(request):
    """The client's IP address ("" without one): the peer's, or behind a proxy listed in
    trusted_proxies the one it forwards; InvalidRequest if that is no address."""
    return proxies.client_address(request)


def _clean(text):
    return "".join(c for c in text if c.isprintable())[:255]
