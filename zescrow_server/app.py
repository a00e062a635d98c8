"""The escrow server application: FastAPI, one router per domain."""

import contextlib
import inspect
import logging
import os
import threading

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from . import bodylimit, db
from .auth import routes as auth_routes, sessions
from .claims import routes as claim_routes
from .custodians import service as custodians
from .errors import ApiError, ServerConfigInvalid
from .coverage import pages as coverage_pages, routes as coverage_routes
from .coverage.writer import ReportWriter
from .escrows import pages, routes as escrow_routes
from .escrows.verification import Verifier
from .escrows.writer import GroupWriter
from .headers import SecurityHeaders
from .helpdesk import pages as helpdesk_pages
from .keys import routes as key_routes
from .keys.service import ServerKey
from .hosts import routes as host_routes
from .legacy import routes as legacy_routes
from .recovery import pages as recovery_pages, routes as recovery_routes
from .quotas.service import Quotas
from .ratelimit import RateLimiter
from .templates import Templates

log = logging.getLogger("zescrow.server")
SESSION_KEY = "session.key"


def create_app(settings, run_verifier=True):
    verifiers = []

    def start():
        if run_verifier and settings.verify_workers > 0:
            verifiers.append(Verifier(app.state.sessions, app.state.key,
                                      app.state.verifier_wakeup, settings.verify_workers))
            verifiers[0].start()

    def stop():
        for verifier in verifiers:
            verifier.stop()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        start()
        yield
        stop()

    # FastAPI >= 0.93 takes a lifespan; Debian 12's 0.92 only startup/shutdown hooks.
    if "lifespan" in inspect.signature(FastAPI.__init__).parameters:
        hooks = {"lifespan": lifespan}
    else:
        hooks = {"on_startup": [start], "on_shutdown": [stop]}
    app = FastAPI(title="zescrow escrow server", version="1", docs_url=None, redoc_url=None,
                  **hooks)
    state = app.state
    state.settings = settings
    state.engine = db.make_engine(settings.db_url)
    state.sessions = db.make_sessionmaker(state.engine)
    state.key = ServerKey(settings.gnupg_home)
    state.custodians = custodians.load(settings.data_dir) \
        if settings.recovery == "custodians" else None
    if settings.recovery == "custodians" and state.custodians is None:
        raise ServerConfigInvalid(source=settings.path("zescrow-server.toml"),
                                  reason="recovery is custodians, but init was not given them "
                                  "(zescrow-server init --custodians FILE --threshold K)")
    state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    state.verifier_wakeup = threading.Event()
    state.writer = GroupWriter(state.engine, lock_path=settings.path("writer.lock")
                               if settings.db_url.startswith("sqlite") else None,
                               quotas=Quotas(settings))
    state.report_writer = ReportWriter(state.engine, lock_path=settings.path("writer.lock")
                                       if settings.db_url.startswith("sqlite") else None)
    state.templates = Templates(os.path.join(os.path.dirname(__file__), "templates"))
    state.oauth = auth_routes.make_oauth(settings)
    app.add_middleware(SessionMiddleware, secret_key=_session_secret(settings),
                       session_cookie="zescrow_session", same_site="lax",
                       https_only=not settings.plain_http, max_age=sessions.LIFETIME_SECONDS)
    # Outside the session (no cookie is decoded for a refused body), inside the headers.
    app.add_middleware(bodylimit.BodyLimit, limits=bodylimit.limits(settings))
    app.add_middleware(SecurityHeaders, hsts=settings.public_url.startswith("https://"))
    for router in (key_routes.router, escrow_routes.router, legacy_routes.router,
                   auth_routes.router, claim_routes.router, pages.router,
                   recovery_routes.router, recovery_pages.router, host_routes.router,
                   coverage_routes.router, coverage_pages.router):
        app.include_router(router)
    app.include_router(helpdesk_pages.router)
    _error_handlers(app)
    return app


def _error_handlers(app):
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return JSONResponse(err.as_json(), status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        where = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in err.errors()[:3])
        return JSONResponse({"error": "invalid-request", "message": "the request is not valid "
                             "(%s); see /openapi.json" % where}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        code = {404: "not-found", 405: "method-not-allowed"}.get(err.status_code, "http-error")
        return JSONResponse({"error": code, "message": str(err.detail)},
                            status_code=err.status_code, headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": "the server hit an unexpected "
                             "error; it is logged, try again later"}, status_code=500)


def _session_secret(settings):
    path = settings.path(SESSION_KEY)
    with open(path, "rb") as f:
        return f.read().strip().decode()
