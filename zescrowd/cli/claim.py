"""zescrowctl claim: open the claim URL of the last escrow again.

Only a link claimurl.py accepts is printed and opened; a refused one is
the error ClaimUrlRefused, which names the server's origin instead.
"""

from pam_zescrow import spool, state
from pam_zescrow.printable import printable

from .. import account, claimurl
from ..config import ClientConfig
from .command import Command


def run(args, out):
    cfg = ClientConfig()
    record = state.load(cfg.state_path).get("escrowed")
    if not record:
        raise account.why_no_escrow(cfg, spool.pending(cfg.spool_dir))
    if record.get("state") == "claimed":
        out.write(printable("Already claimed (%s). Your backups are listed at %s/" % (
            record.get("claimed_at"), record["server_url"])) + "\n")
        return 0
    url, refused = claimurl.checked(record)  # also a link an older version recorded
    if refused:
        raise refused
    out.write("Claim it at: %s\n" % url)
    if not args.print_only:
        import subprocess

        subprocess.Popen(["xdg-open", url], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return 0


def add_arguments(parser):
    parser.add_argument("--print-only", action="store_true", help="do not open a browser")


command = Command("claim", "open the claim link of the last escrow again", add_arguments, run)
