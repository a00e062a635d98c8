"""zescrowctl setup SERVER_URL: choose an escrow server and pin its key.

Fetches /.well-known/zescrow.json and /gpg.pub over verified TLS, checks
that the key's fingerprint is the one the server says (and the one given
with --fingerprint, if any), shows it, asks to confirm unless it was
given, and writes the user's config (or, with --system, the machine's).
"""

import os
import sys

from pam_zescrow.fsutil import atomic_write

from ..config import ClientConfig
from ..errors import KeyChanged
from ..formats import spaced_fingerprint
from .command import Command


def run(args, out):
    # Imported here: every zescrowctl start pays for what its module imports.
    from pam_zescrow import seal

    from .. import upload

    url = args.server_url.rstrip("/")
    cfg = ClientConfig()
    cfg.url, cfg.ca_file = url, args.ca_file
    info = upload.server_info(cfg, url)
    published = seal.normalize_fingerprint(str(info.get("fingerprint", "")))
    key_data = upload.get(cfg, url, "/gpg.pub").content
    _check_key(key_data, published)
    if args.fingerprint and seal.normalize_fingerprint(args.fingerprint) != published:
        raise KeyChanged(host=url, actual=published, expected=args.fingerprint, url=url)
    out.write("Server %s publishes the key\n  %s\n" % (url, spaced_fingerprint(published)))
    if not args.fingerprint and not args.yes and not _confirm(out):
        out.write("Not changed. Compare the fingerprint with what the server's administrator "
                  "gives you, then run this again.\n")
        return 1
    conf_path, key_path = _paths(args.system, cfg)
    os.makedirs(os.path.dirname(conf_path), mode=0o755 if args.system else 0o700,
                exist_ok=True)
    atomic_write(key_path, key_data, 0o644)
    lines = ["[server]", "url = %s" % url, "fingerprint = %s" % published,
             "key_file = %s" % key_path]
    if args.ca_file:
        lines.append("ca_file = %s" % os.path.abspath(args.ca_file))
    atomic_write(conf_path, ("\n".join(lines) + "\n").encode(), 0o644)
    out.write("Pinned. Written to %s.\n" % conf_path)
    if args.system:
        out.write("Every user with an eCryptfs home is escrowed at their next login.\n")
    return 0


def _check_key(key_data, published):
    from pam_zescrow import seal

    with seal.gnupg_home() as home:
        seal.import_pinned(seal.open_gpg(home), key_data, "the key from /gpg.pub", published)


def _paths(system, cfg):
    """The config file to write and the key file beside it (the system's or the user's)."""
    conf = cfg.system_path if system else cfg.user_path
    return conf, os.path.join(os.path.dirname(conf), "server-key.asc")


def _confirm(out):
    if not sys.stdin.isatty():
        return False
    out.write("Is this the fingerprint your escrow server's administrator gave you? [y/N] ")
    out.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def add_arguments(parser):
    parser.add_argument("server_url", metavar="SERVER_URL")
    parser.add_argument("--fingerprint", metavar="FPR",
                        help="the fingerprint you expect (then no question is asked)")
    parser.add_argument("--ca-file", metavar="PEM", help="the CA that signed the server's "
                        "certificate, when it is not a public one")
    parser.add_argument("--system", action="store_true",
                        help="enrol the whole machine (/etc/zescrow; needs root)")
    parser.add_argument("--yes", action="store_true", help="pin without asking")


command = Command("setup", "choose an escrow server and pin its key", add_arguments, run)
