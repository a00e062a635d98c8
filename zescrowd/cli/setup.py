"""zescrowctl setup SERVER_URL: choose an escrow server and pin its key.

Fetches /.well-known/zescrow.json and /gpg.pub over verified TLS, checks
that the key's fingerprint is the one the server says (and the one given
with --fingerprint, if any), shows it, asks to confirm unless it was
given, and writes the user's config (or, with --system, the machine's),
with a copy of the CA file beside it (zescrowd/enrol.py).
"""

import os
import sys

from ..config import ClientConfig
from ..errors import (SetupCustodiansMismatch, SetupEnrolmentRefused, SetupFingerprintMismatch,
                      SetupNeedsConfirmation, SetupNeedsRoot)
from ..formats import spaced_fingerprint
from .command import Command


def run(args, out):
    from .. import enrol  # here: every zescrowctl start pays for what its module imports

    url = enrol.check_url(args.server_url)
    cfg = ClientConfig()
    conf_path = cfg.system_path if args.system else cfg.user_path
    if args.system and os.geteuid() != 0:
        raise SetupNeedsRoot(path=conf_path, user=cfg.user, url=url)
    if args.token and not args.system:
        raise SetupEnrolmentRefused(host=url, reason="--token enrols the machine, not one "
                                    "account: give --system too, as root")
    ca_data = enrol.read_ca(args.ca_file) if args.ca_file else None
    published, key_data, info = enrol.fetch(url, args.ca_file)
    _check_key(key_data, published)
    if args.fingerprint and not enrol.same_fingerprint(args.fingerprint, published):
        raise SetupFingerprintMismatch(host=url, actual=published, expected=args.fingerprint)
    out.write("Server %s publishes the key\n  %s\n" % (url, spaced_fingerprint(published)))
    custodians = enrol.recovery(url, args.ca_file, info)
    _show_recovery(custodians, out)
    if custodians is not None and args.custodians is not None:
        _check_custodians(url, custodians, args.custodians)
    if not args.fingerprint and not args.yes or (custodians is not None and not args.yes
                                                 and args.custodians is None):
        if not sys.stdin.isatty():
            raise SetupNeedsConfirmation(url=url, fingerprint=spaced_fingerprint(published))
        if not _confirm(out, custodians):
            out.write("Not changed. Compare the fingerprint with what the server's "
                      "administrator gives you, then run this again.\n")
            return 1
    host = _kept_host(conf_path, url)
    if args.token:  # the machine's host key, registered with the token (#13)
        host = enrol.register_host(url, args.ca_file, args.token, cfg.host_key_path(conf_path))
        out.write("Enrolled this machine as host %s (%s).\n" % (host["host"], host["name"]))
    enrol.write(conf_path, url, published, key_data, ca_data, args.system, custodians, host)
    out.write("Pinned. Written to %s.\n" % conf_path)
    if args.system:
        out.write("Every user with an eCryptfs home is escrowed at their next login.\n")
    elif os.geteuid() == 0:
        out.write("This chose a server for root's own account, which zescrow does not escrow; "
                  "to enrol the machine for its users: zescrowctl setup %s --system\n" % url)
    return 0


def _kept_host(conf_path, url):
    """Setup again without --token keeps the machine's enrolment with the same server."""
    from pam_zescrow import config
    from pam_zescrow.errors import ZescrowError

    try:
        old = config.load(conf_path)
    except ZescrowError:
        return None
    if old.host_id and old.url.rstrip("/") == url.rstrip("/"):
        return {"host": old.host_id, "name": "", "key_file": old.host_key}
    return None


def _show_recovery(custodians, out):
    if custodians is None:
        out.write("Recovery: server mode — your escrow is sealed to this key; its server can "
                  "open it and gives it back to you after you claim it.\n")
        return
    out.write("Recovery: custodians mode — the server cannot open your escrow; %d of these "
              "%d custodians must approve an opening:\n"
              % (custodians["threshold"], len(custodians["custodians"])))
    for member in custodians["custodians"]:
        out.write("  %s  %s\n" % (spaced_fingerprint(member["fingerprint"]), member["name"]))


def _check_custodians(url, custodians, given):
    from pam_zescrow import seal

    published = [c["fingerprint"] for c in custodians["custodians"]]
    from pam_zescrow.errors import ServerKeyMismatch

    try:
        expected = [seal.normalize_fingerprint(f) for f in given.split(",") if f.strip()]
    except ServerKeyMismatch:  # not a fingerprint: a mismatch, said as such
        expected = [given]
    if sorted(expected) != sorted(published):
        raise SetupCustodiansMismatch(host=url, actual=", ".join(published),
                                      expected=", ".join(expected))


def _check_key(key_data, published):
    from pam_zescrow import seal

    with seal.gnupg_home() as home:
        seal.import_pinned(seal.open_gpg(home), key_data, "the key from /gpg.pub", published)


def _confirm(out, custodians=None):
    out.write("Is this the fingerprint your escrow server's administrator gave you%s? [y/N] "
              % (" (and are these its custodians)" if custodians else ""))
    out.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def add_arguments(parser):
    parser.add_argument("server_url", metavar="SERVER_URL")
    parser.add_argument("--fingerprint", metavar="FPR",
                        help="the fingerprint you expect (then no question is asked)")
    parser.add_argument("--ca-file", metavar="PEM", help="the CA that signed the server's "
                        "certificate, when it is not a public one (copied beside the config)")
    parser.add_argument("--system", action="store_true",
                        help="enrol the whole machine (/etc/zescrow; needs root)")
    parser.add_argument("--custodians", metavar="FPR,FPR,...", help="custodians mode: the "
                        "custodians you expect (then no question is asked about them)")
    parser.add_argument("--yes", action="store_true", help="pin without asking")
    parser.add_argument("--token", metavar="T", help="with --system: enrol this machine with "
                        "the enrolment token the server's administrator gave you (servers with "
                        "enrolment = required take uploads only from enrolled machines)")


command = Command("setup", "choose an escrow server and pin its key", add_arguments, run)
