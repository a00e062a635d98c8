"""serve: gunicorn with uvicorn workers, HTTPS from the configured certificate.

Each worker builds its own app after the fork (database pool, gpg, the
verification thread); gunicorn restarts a worker that dies.
"""

import os

from gunicorn.app.base import BaseApplication


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


def _worker_class():
    # uvicorn moved its gunicorn worker to the uvicorn-worker package; Debian
    # 12's uvicorn 0.17 still has it built in.
    try:
        import uvicorn_worker  # noqa: F401

        return "uvicorn_worker.UvicornWorker"
    except ImportError:
        return "uvicorn.workers.UvicornWorker"


def serve(settings, workers=None):
    options = {"bind": settings.bind, "workers": workers or settings.workers,
               "worker_class": _worker_class(), "accesslog": None,
               "graceful_timeout": 10, "timeout": 60, "keepalive": 5}
    if not settings.plain_http:
        if not (os.path.exists(settings.cert_file) and os.path.exists(settings.key_file)):
            raise OSError("no TLS certificate at %s: run zescrow-server init --self-signed, "
                          "set tls_cert and tls_key, or plain_http = true behind a TLS "
                          "proxy" % settings.cert_file)
        options.update(certfile=settings.cert_file, keyfile=settings.key_file)
    _Server(settings, options).run()
    return 0
