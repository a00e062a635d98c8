"""POST /api/v1/hosts/{host}/reports: an enrolled host's signed coverage report."""

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from ..escrows.routes import ERRORS, read_bounded
from . import service

router = APIRouter(prefix="/api/v1", tags=["coverage"])


@router.post("/hosts/{host_id}/reports", responses=ERRORS)
async def report(host_id: str, request: Request,
                 x_zescrow_signature: str = Header("", max_length=256)):
    """The body is the report (docs/formats.md "zescrow-report"), the header its
    signature by the host key; the answer judges each user and names exposed escrows."""
    statement = await read_bounded(request, service.MAX_REPORT)
    return await run_in_threadpool(_ingest, request, host_id, statement, x_zescrow_signature)


def _ingest(request, host_id, statement, signature):
    with request.app.state.sessions() as session:
        return service.ingest(session, request.app.state.report_writer, host_id, statement,
                              signature)
