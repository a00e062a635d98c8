"""zescrow-server init: the data folder, its settings, database, server key (and TLS).

Run again at will (the unit runs it before every start): it keeps what
exists and brings the database to the newest migration. It stops the
gpg-agent that gpg starts for the key: nothing of init keeps running.
"""

import os
import secrets

from .. import bind, config
from ..errors import ServerKeyUnusable
from ..keys import service as keys
from . import datadir
from .command import Command

LOCAL_NAMES = ["127.0.0.1", "localhost"]


def run(args):
    address = args.bind or bind.DEFAULT
    _, port = bind.parse(address)  # before anything is made
    hostnames = args.hostname or LOCAL_NAMES
    folder = args.data_dir
    datadir.check_reachable(folder)
    os.umask(0o077)  # what init makes is the server's alone, whatever the caller's umask
    os.makedirs(folder, mode=0o700, exist_ok=True)
    _private(folder, 0o700)  # a folder that was there already, perhaps 0755
    public_url = args.public_url or "https://%s:%d" % (hostnames[0], port)
    _create(datadir.conf_path(folder), TEMPLATE % {"public_url": public_url, "bind": address})
    _create(os.path.join(folder, "session.key"), secrets.token_urlsafe(48) + "\n")
    settings = config.load(folder)
    from .. import db  # here: `zescrow-server --version` and `admin coverage` go without it

    db.migrate(settings.db_url)
    if settings.db_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):  # SQLite gives its journals the file's mode
            _private(settings.db_url[len("sqlite:///"):] + suffix, 0o600)
    _bind_owners(settings)
    fingerprint, made = _server_key(settings.gnupg_home)
    if args.custodians:
        _custodians(folder, args.custodians, args.threshold)
    if args.self_signed and not os.path.exists(settings.cert_file):
        from .. import selfsigned

        ca = selfsigned.make(settings.path("tls"), hostnames)
        print("self-signed TLS: clients need the CA %s (zescrowctl setup --ca-file)" % ca)
    print("data folder: %s" % settings.data_dir)
    print("server key %s: %s" % ("made" if made else "kept", fingerprint))
    print("fingerprint: %s" % fingerprint)
    return 0


def _custodians(folder, keys_file, threshold):
    """Custodians mode: keep their keys and k, and say so in the settings."""
    from ..custodians import service as custodians
    from ..errors import CustodiansInvalid

    if threshold is None:
        raise CustodiansInvalid(reason="--custodians needs --threshold K (how many of them "
                                "must approve an opening)")
    try:
        kept = custodians.import_keys(folder, keys_file, threshold)
    except custodians.CustodiansError as err:
        raise CustodiansInvalid(reason=str(err)) from None
    _set_recovery(datadir.conf_path(folder), "custodians")
    print("recovery: custodians — %d of these %d must approve an opening; this server cannot "
          "open the escrows:" % (kept.threshold, len(kept.members)))
    for member in kept.members:
        print("  custodian %s %s" % (member["fingerprint"], member["name"]))


def _set_recovery(conf, mode):
    """`recovery = MODE` as a top-level setting: before any [[table]], replacing one."""
    with open(conf) as f:
        lines = f.read().splitlines()
    lines = [line for line in lines if not line.replace(" ", "").startswith("recovery=")]
    lines.insert(0, 'recovery = "%s"' % mode)
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")


def _private(path, mode):
    """Take group and other permissions away from a file or folder of ours."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.chmod(path, mode)


def _bind_owners(settings):
    """Owners claimed before owners had a provider get theirs (migration 0003)."""
    from .. import db
    from ..escrows import service

    engine = db.make_engine(settings.db_url)
    try:
        with db.make_sessionmaker(engine)() as session:
            unbound = service.bind_owners(session, settings.oidc)
    finally:
        engine.dispose()
    if unbound:
        print("%d claimed escrows have an owner whose issuer is configured for no provider, "
              "or for several: nobody sees them until exactly one [[oidc]] provider has that "
              "issuer and init runs again" % unbound)


def _create(path, text):
    """Write a private file that is not there yet; keep one that is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with open(fd, "w") as f:
        f.write(text)


def _server_key(home):
    """(fingerprint, made): the key in `home`, made if there is none."""
    try:
        try:
            return keys.ServerKey(home).fingerprint, False
        except keys.KeyError_:
            return keys.generate(home, "zescrow escrow server"), True
    except keys.KeyError_ as err:
        raise ServerKeyUnusable(home=home, reason=err) from None
    finally:
        keys.stop_agent(home)


def add_arguments(p):
    p.add_argument("--custodians", metavar="FILE", help="custodians mode: their OpenPGP public "
                   "keys (armored); this server will store escrows it cannot open")
    p.add_argument("--threshold", metavar="K", type=int, help="with --custodians: how many "
                   "custodians must approve an opening (2 <= K <= their number)")
    p.add_argument("--self-signed", action="store_true", help="also a local CA and certificate")
    p.add_argument("--hostname", action="append", default=None,
                   help="the name clients use, for the certificate and the public URL; "
                   "repeat for more names (default: 127.0.0.1 and localhost)")
    p.add_argument("--public-url", help="the URL clients use (default https://HOSTNAME:PORT)")
    p.add_argument("--bind", help="the address and port to listen on (default %s: every "
                   "IPv4 address of this machine)" % bind.DEFAULT)


TEMPLATE = """# zescrow-server settings; every one is described in docs/server.md.
public_url = "%(public_url)s"
# An IP address of this machine and a port (0.0.0.0: all IPv4 addresses).
bind = "%(bind)s"
# database_url = "postgresql://zescrow@localhost/zescrow"
workers = 2
max_upload_bytes = 65536
claim_window_seconds = 86400
rate_limit_per_minute = 120
download_max_age_seconds = 300
# Custodians mode: how many days a recovery request stays open.
recovery_request_days = 7
# A request must be complete within this many seconds (slow clients are closed).
request_timeout_seconds = 10
# Caps on what waits to be claimed, for all nodes together (0: no cap).
max_unclaimed_escrows = 100000
max_unclaimed_bytes = 1073741824
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks).
# trusted_proxies = ["127.0.0.1"]
# smtp_host = "localhost"

# One table per OpenID Connect provider; the login page lets the user pick.
# [[oidc]]
# name = "google"
# title = "Google"
# issuer = "https://accounts.google.com"
# client_id = "..."
# client_secret = "..."
"""

command = Command("init", "make the data folder, database and server key (run again after "
                  "an upgrade)", add_arguments, run)
