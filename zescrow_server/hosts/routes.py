"""POST /api/v1/hosts: a machine enrols with a token (zescrowctl setup --token)."""

import json

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..errors import ApiError
from ..escrows.routes import ERRORS, client_address
from . import service

router = APIRouter(prefix="/api/v1", tags=["hosts"])


@router.post("/hosts", status_code=201, responses=ERRORS)
async def enrol(request: Request):
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…", deeper than json goes
        body = None
    if not isinstance(body, dict):
        raise ApiError("send JSON {token, name, public_key}", 422, "invalid-request")
    return await run_in_threadpool(_enrol, request, body)


def _enrol(request, body):
    with request.app.state.sessions() as session:
        host = service.enrol(session, body.get("token"), body.get("name"),
                             body.get("public_key"), client_address(request))
        return {"host": host.id, "name": host.name,
                "enrolment": request.app.state.settings.enrolment}
