"""serve: gunicorn with uvicorn workers, HTTPS from the configured certificate.

Each worker builds its own app after the fork (database pool, gpg, the
verification thread); gunicorn restarts a worker that dies. The workers
decrypt through one gpg-agent, which the master stops when it ends. The
worker is uvicorn's with a deadline for reading each request (deadline.py).
"""

import os

from gunicorn.app.base import BaseApplication

from .keys.service import stop_agent


class _Server(BaseApplication):
    def __init__(self, settings, options):
        self.settings, self.options = settings, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        return create_app(self.settings)


def serve(settings, workers=None):
    """Serve until stopped (cli/serve.py checks the certificate and the bind first)."""
    options = {"bind": settings.bind, "workers": workers or settings.workers,
               "worker_class": "zescrow_server.deadline.Worker", "accesslog": None,
               "graceful_timeout": 10, "timeout": 60, "keepalive": 5}
    if not settings.plain_http:
        options.update(certfile=settings.cert_file, keyfile=settings.key_file)
    master = os.getpid()
    try:
        _Server(settings, options).run()
    finally:
        # A worker that exits unwinds through here too (gunicorn forks inside
        # run()); only the master, last to go, may stop the agent they share.
        if os.getpid() == master:
            stop_agent(settings.gnupg_home)
    return 0
