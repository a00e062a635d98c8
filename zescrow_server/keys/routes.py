"""Key publication: what a client fetches before it pins and encrypts."""

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

router = APIRouter()


@router.get("/.well-known/zescrow.json", tags=["keys"])
def well_known(request: Request) -> dict:
    app = request.app.state
    return {"api": 1, "fingerprint": app.key.fingerprint,
            "claim_window_seconds": app.settings.claim_window_seconds,
            "max_upload_bytes": app.settings.max_upload_bytes}


@router.get("/gpg.pub", tags=["keys"], response_class=Response,
            responses={200: {"content": {"application/pgp-keys": {}}}})
def public_key(request: Request):
    return Response(request.app.state.key.public_armored, media_type="application/pgp-keys")


@router.get("/gpg.fingerprint", tags=["keys"], response_class=PlainTextResponse)
def fingerprint(request: Request):
    return PlainTextResponse(request.app.state.key.fingerprint + "\n")
