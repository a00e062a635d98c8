"""Key publication: what a client fetches before it pins and encrypts."""

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from ..errors import ApiError

router = APIRouter()


@router.get("/.well-known/zescrow.json", tags=["keys"])
def well_known(request: Request) -> dict:
    app = request.app.state
    published = {"api": 1, "fingerprint": app.key.fingerprint,
                 "claim_window_seconds": app.settings.claim_window_seconds,
                 "max_upload_bytes": app.settings.max_upload_bytes,
                 "recovery": app.settings.recovery, "enrolment": app.settings.enrolment}
    if app.custodians is not None:  # what clients show, confirm and pin at setup
        published.update(threshold=app.custodians.threshold,
                         custodians=app.custodians.published())
    return published


@router.get("/custodians.asc", tags=["keys"], response_class=Response,
            responses={200: {"content": {"application/pgp-keys": {}}}, 404: {}})
def custodian_keys(request: Request):
    """Custodians mode: their public keys, which clients pin by fingerprint."""
    kept = request.app.state.custodians
    if kept is None:
        raise ApiError("this server keeps escrows in server mode: it has no custodians", 404,
                       "not-found")
    return Response(kept.armored, media_type="application/pgp-keys")


@router.get("/gpg.pub", tags=["keys"], response_class=Response,
            responses={200: {"content": {"application/pgp-keys": {}}}})
def public_key(request: Request):
    return Response(request.app.state.key.public_armored, media_type="application/pgp-keys")


@router.get("/gpg.fingerprint", tags=["keys"], response_class=PlainTextResponse)
def fingerprint(request: Request):
    return PlainTextResponse(request.app.state.key.fingerprint + "\n")
