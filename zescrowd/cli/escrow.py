"""zescrowctl escrow: the 2012 flow, by hand, for machines without the PAM hook.

Type the LOGIN password; the key is unwrapped, verified, archived, sealed
to the pinned server key and uploaded now; the claim URL is printed (and
opened with --open).
"""

import os

from pam_zescrow import capture, defaults, pipeline, spool

from ..config import ClientConfig
from ..errors import NotEnrolled
from .command import Command


def run(args, out):
    # Imported here: every zescrowctl start pays for what its module imports.
    import subprocess

    from ..daemon import Daemon

    cfg = ClientConfig()
    if not cfg.enrolled:
        raise NotEnrolled(system=cfg.system_path, user=cfg.user_path)
    ecryptfs_path = args.ecryptfs_dir or os.path.expanduser("~/" + defaults.ECRYPTFS_DIRNAME)
    password = capture.login_password(args.password_fd, ecryptfs_path)
    with password:
        prepared = pipeline.prepare(ecryptfs_path, password)
    os.makedirs(cfg.user_dir, mode=defaults.PRIVATE_DIR_MODE, exist_ok=True)
    entry = pipeline.escrow(prepared, cfg.key_file, cfg.fingerprint, cfg.spool_dir, cfg.user,
                            server_url=cfg.url, custodians=cfg.custodians)
    out.write("Sealed to %s; uploading…\n" % cfg.url)
    Daemon(cfg, notifier=None).upload_due()
    if entry.name in [e.name for e in spool.pending(cfg.spool_dir)]:
        from .status import as_text, collect

        out.write(as_text(collect(cfg, refresh=False)))
        return 1
    from pam_zescrow import state

    from .. import claimurl

    record = state.load(cfg.state_path)["escrowed"]
    url, refused = claimurl.checked(record)
    if refused:
        raise refused
    out.write("Uploaded. Claim it before %s at:\n  %s\n" % (record["claim_expires_at"], url))
    if args.open:
        subprocess.Popen(["xdg-open", url], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return 0


def add_arguments(parser):
    parser.add_argument("--ecryptfs-dir", metavar="DIR", help="default: ~/.ecryptfs")
    parser.add_argument("--password-fd", metavar="N", type=int,
                        help="read the LOGIN password from file descriptor N")
    parser.add_argument("--open", action="store_true", help="open the claim URL in a browser")


command = Command("escrow", "escrow your key now, by hand (without the PAM hook)",
                  add_arguments, run)
