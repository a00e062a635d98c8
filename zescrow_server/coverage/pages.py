"""/admin/coverage: the organisation's view of who is covered (admins and helpdesk).

A summary (hosts, silent hosts, users per state) and the users who need
attention, worst first, 100 at a time; ?state= shows one state, verified
included. The counts and rows are read, not worked out: each row's state
was judged when its report came (coverage/service.py), so the page costs a
GROUP BY, two index counts and a page of rows (readout.py).
"""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from .. import roles
from ..auth import identity
from ..errors import Forbidden
from . import readout
from .models import STATES, VERIFIED

router = APIRouter(include_in_schema=False)
PAGE = 100


@router.get("/admin/coverage")
async def coverage(request: Request, state: str = "", page: int = 0):
    who = await run_in_threadpool(identity.current, request)
    if who is None:
        return RedirectResponse("/login?next=/admin/coverage", status_code=303)
    templates = request.app.state.templates
    try:
        roles.require(request, roles.HELPDESK)
    except Forbidden as err:
        return templates.TemplateResponse(request, "message.html", {
            "identity": who, "title": "Not for this login", "text": err.message},
            status_code=403)
    state = state if state in STATES else ""
    page = max(0, min(page, 10_000))
    view = await run_in_threadpool(_view, request.app.state, state, page)
    return templates.TemplateResponse(request, "coverage.html", dict(
        view, identity=who, state=state, page=page, page_size=PAGE))


def _view(app_state, state, page):
    with app_state.sessions() as session:
        conn = readout.driver(session)
        summary = readout.summary(conn)
        if state:
            rows = list(readout.rows(conn, state=state, limit=PAGE + 1, offset=page * PAGE))
        else:  # the users who need attention, worst first, the first PAGE of them
            rows = []
            for s in STATES:
                if s != VERIFIED and len(rows) <= PAGE:
                    rows += list(readout.rows(conn, state=s, limit=PAGE + 1 - len(rows)))
        silent = readout.silent_hosts(conn, limit=PAGE) if not state else []
    return {"summary": summary, "rows": rows[:PAGE], "more": len(rows) > PAGE,
            "silent": silent, "states": STATES}
