"""Recovery in custodians mode over HTTP: the requester's and the custodians' API.

    GET  /api/v1/recovery/{token}           the requester: state, container, approved shares
    PUT  /api/v1/recovery/{token}/key       the requester's ephemeral public key, once
    GET  /api/v1/custodian/{token}          a custodian: who asks, why, the sealed shares
    POST /api/v1/custodian/{token}/decision a custodian's signed decision

The tokens are the two capabilities the owner's request made (pages.py).
"""

import json

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from .. import mail
from ..errors import ApiError
from ..escrows.routes import ERRORS, client_address
from . import service
from .models import DECLINED, READY

router = APIRouter(prefix="/api/v1", tags=["recovery"])


def _kept(request):
    kept = request.app.state.custodians
    if kept is None:
        raise ApiError("this server keeps escrows in server mode: there are no custodians and "
                       "no recovery requests; download the escrow on the web", 404,
                       "wrong-recovery-mode")
    return kept


@router.get("/recovery/{token}", responses=ERRORS)
def requester_view(request: Request, token: str):
    state = request.app.state
    kept = _kept(request)
    with state.sessions() as session:
        row = service.by_requester_token(session, token)
        escrow, made = service.fetch(session, row, client_address(request))
        return service.public(row, escrow, made, kept, with_shares=True)


@router.put("/recovery/{token}/key", status_code=204, responses=ERRORS)
async def register_key(request: Request, token: str):
    body = await request.body()
    return await run_in_threadpool(_register_key, request, token, body)


def _register_key(request, token, body):
    state = request.app.state
    _kept(request)
    with state.sessions() as session:
        row = service.by_requester_token(session, token)
        service.register_key(session, row, body, client_address(request))
    from fastapi.responses import Response

    return Response(status_code=204)


@router.get("/custodian/{token}", responses=ERRORS)
def custodian_view(request: Request, token: str):
    state = request.app.state
    kept = _kept(request)
    with state.sessions() as session:
        row = service.by_custodian_token(session, token)
        escrow = session.get(service.Escrow, row.escrow_id)
        return service.public(row, escrow, service.decisions(session, row), kept,
                              with_shares=False)


@router.post("/custodian/{token}/decision", responses=ERRORS)
async def decision(request: Request, token: str):
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError("the body is not JSON: send {statement, signature, share}", 422,
                       "statement-invalid") from None
    return await run_in_threadpool(_decide, request, token, body)


def _decide(request, token, body):
    state = request.app.state
    kept = _kept(request)
    with state.sessions() as session:
        row = service.by_custodian_token(session, token)
        after = service.decide(session, row, kept, body, client_address(request))
        escrow = session.get(service.Escrow, row.escrow_id)
        if after in (READY, DECLINED):
            tell_owner(state.settings, row, escrow, after, session)
        return {"id": row.id, "state": after}


def tell_owner(settings, row, escrow, state, session):
    from ..helpdesk import notices, service as helpdesk

    started = helpdesk.started(session, row)
    if started is not None:  # the helpdesk asked, not the owner: say so, and what it means
        notices.custodians_decided(settings, escrow, started, state == READY)
        return
    if state == READY:
        subject = "Your zescrow recovery request can complete"
        text = ("Enough custodians approved the recovery of the eCryptfs key of %s@%s\n"
                "(request %s, asked for by %s: %s).\n\nRun zescrowctl recover --request with "
                "the request link on the computer that asked.\nIf you did not ask for this, "
                "tell your escrow server's administrator now.\n"
                % (escrow.username or "?", escrow.host or "?", row.id, row.requested_by,
                   row.reason))
    else:
        subject = "Your zescrow recovery request was declined"
        text = ("Too many custodians declined the recovery of the eCryptfs key of %s@%s\n"
                "(request %s) for it to complete. Their reasons are on the request's page.\n"
                % (escrow.username or "?", escrow.host or "?", row.id))
    mail.send(settings, escrow.owner_email, subject, text, "the recovery notice")
