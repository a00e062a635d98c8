"""zescrowctl claim: open the claim URL of the last escrow again."""

from pam_zescrow import spool, state

from .. import account
from ..config import ClientConfig
from .command import Command


def run(args, out):
    cfg = ClientConfig()
    record = state.load(cfg.state_path).get("escrowed")
    if not record:
        raise account.why_no_escrow(cfg, spool.pending(cfg.spool_dir))
    if record.get("state") == "claimed":
        out.write("Already claimed (%s). Your backups are listed at %s/\n" % (
            record.get("claimed_at"), record["server_url"]))
        return 0
    out.write("Claim it at: %s\n" % record["claim_url"])
    if not args.print_only:
        import subprocess

        subprocess.Popen(["xdg-open", record["claim_url"]], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return 0


def add_arguments(parser):
    parser.add_argument("--print-only", action="store_true", help="do not open a browser")


command = Command("claim", "open the claim link of the last escrow again", add_arguments, run)
