"""zescrow-server: init, serve, admin.

    zescrow-server init [--self-signed] [--hostname H] [--public-url URL]
    zescrow-server serve [--workers N]
    zescrow-server admin list | purge-expired | export-audit

The data folder is --data, else $ZESCROW_SERVER_DATA_DIR, else
/var/lib/zescrow-server; its zescrow-server.toml holds the settings
(docs/server.md).
"""

import argparse
import json
import os
import secrets
import sys

from . import config, db

DEFAULT_DATA = "/var/lib/zescrow-server"


def cmd_init(args, settings):
    os.makedirs(settings.data_dir, mode=0o700, exist_ok=True)
    conf_path = settings.path(config.CONFIG_NAME)
    if not os.path.exists(conf_path):
        public = args.public_url or "https://%s:8443" % args.hostname[0]
        with open(os.open(conf_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(TEMPLATE % {"public_url": public, "bind": "%s:8443" % args.hostname[0]})
    secret_path = settings.path("session.key")
    if not os.path.exists(secret_path):
        with open(os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
    settings = config.load(settings.data_dir)
    db.migrate(settings.db_url)
    from .keys import service as keys

    try:
        fingerprint = keys.ServerKey(settings.gnupg_home).fingerprint
        made = False
    except keys.KeyError_:
        fingerprint, made = keys.generate(settings.gnupg_home, "zescrow escrow server"), True
    if args.self_signed and not os.path.exists(settings.cert_file):
        from . import selfsigned

        ca = selfsigned.make(settings.path("tls"), args.hostname)
        print("self-signed TLS: clients need the CA %s (zescrowctl setup --ca-file)" % ca)
    print("data folder: %s" % settings.data_dir)
    print("server key %s: %s" % ("made" if made else "kept", fingerprint))
    print("fingerprint: %s" % fingerprint)
    return 0


def cmd_serve(args, settings):
    from .serve import serve

    return serve(settings, workers=args.workers)


def cmd_admin(args, settings):
    from .audit import service as audit
    from .escrows import service
    from .escrows.models import Escrow

    sessions = db.make_sessionmaker(db.make_engine(settings.db_url))
    with sessions() as session:
        if args.action == "list":
            from sqlalchemy import select

            for e in session.scalars(select(Escrow).order_by(Escrow.created_at)):
                print("%s  %s  %-9s  %-8s  %s@%s  %s" % (
                    e.id, e.created_at.strftime("%Y-%m-%d %H:%M"), e.state(), e.verification,
                    e.username or "?", e.host or "?", e.owner_display or "-"))
        elif args.action == "purge-expired":
            ids = service.purge_expired(session, actor="admin")
            print("purged %d expired unclaimed escrows" % len(ids))
        elif args.action == "export-audit":
            for event in audit.export(session):
                print(json.dumps(event, sort_keys=True))
            audit.record(session, "audit-export", "admin")
            session.commit()
    return 0


TEMPLATE = """# zescrow-server settings; every one is described in docs/server.md.
public_url = "%(public_url)s"
bind = "%(bind)s"
# database_url = "postgresql://zescrow@localhost/zescrow"
workers = 2
max_upload_bytes = 65536
claim_window_seconds = 86400
rate_limit_per_minute = 120
download_max_age_seconds = 300
# smtp_host = "localhost"

# One table per OpenID Connect provider; the login page lets the user pick.
# [[oidc]]
# name = "google"
# title = "Google"
# issuer = "https://accounts.google.com"
# client_id = "..."
# client_secret = "..."
"""


def build_parser():
    parser = argparse.ArgumentParser(prog="zescrow-server")
    parser.add_argument("--data", default=None, help="the data folder (default: "
                        "$ZESCROW_SERVER_DATA_DIR or %s)" % DEFAULT_DATA)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="make the data folder, database and server key")
    p.add_argument("--self-signed", action="store_true", help="also a local CA and certificate")
    p.add_argument("--hostname", action="append", default=None,
                   help="names for the certificate (default: 127.0.0.1 and localhost)")
    p.add_argument("--public-url", help="the URL clients use (default https://HOST:8443)")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("serve", help="serve HTTPS (gunicorn with uvicorn workers)")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("admin", help="list, purge-expired, export-audit")
    p.add_argument("action", choices=("list", "purge-expired", "export-audit"))
    p.set_defaults(func=cmd_admin)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "hostname", None) is None and args.command == "init":
        args.hostname = ["127.0.0.1", "localhost"]
    settings = config.load(args.data or os.environ.get("ZESCROW_SERVER_DATA_DIR")
                           or DEFAULT_DATA)
    try:
        return args.func(args, settings)
    except (ValueError, OSError) as err:
        print("zescrow-server: error: %s" % err, file=sys.stderr)
        return 2


def run():
    sys.exit(main())
