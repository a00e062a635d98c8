"""zescrow-server serve: check what gunicorn would fail on with a log, then serve.

gunicorn meets a busy port with five retries, a log line each and exit 1,
and a missing certificate or key with a traceback per worker: each is
checked here first, to fail with one line that says what to do.
"""

import os

from .. import bind, config
from ..errors import NoCertificate, ServerKeyUnusable
from . import datadir
from .command import Command


def run(args):
    datadir.check_made(args.data_dir)
    settings = config.load(args.data_dir)
    conf = datadir.conf_path(settings.data_dir)
    if not settings.plain_http:
        _check_tls(settings, conf)
    if not os.path.isdir(settings.gnupg_home):
        raise ServerKeyUnusable(home=settings.gnupg_home, reason="there is none")
    bind.check_free(settings.bind, conf)
    from ..serve import serve

    return serve(settings, workers=args.workers)


def _check_tls(settings, conf):
    for path in (settings.cert_file, settings.key_file):
        if not os.path.exists(path):
            raise NoCertificate(path=path, conf=conf)
        with open(path, "rb"):  # readable: a PermissionError says whose it should be
            pass


def add_arguments(p):
    p.add_argument("--workers", type=int, default=None, help="server processes (default: "
                   "the workers setting)")


command = Command("serve", "serve HTTPS (gunicorn with uvicorn workers)", add_arguments, run)
