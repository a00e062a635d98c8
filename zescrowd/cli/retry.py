"""zescrowctl retry: try the pending uploads now, including refused ones."""

from pam_zescrow import spool, state

from .. import account
from ..config import ClientConfig
from .command import Command


def run(args, out):
    # Imported here: every zescrowctl start pays for what its module imports.
    from ..daemon import Daemon
    from .status import as_text, collect

    cfg = ClientConfig()
    if not spool.pending(cfg.spool_dir):
        # Nothing to clear either: the state folder may not even exist (root,
        # an account without eCryptfs), and retry must not make one.
        why = account.why_no_escrow(cfg, [])
        out.write("Nothing waits in the spool (%s); %s.\n  what to do: %s\n" % (
            cfg.spool_dir, why.text, why.hint_text))
        return 0

    def clear(current):
        for info in current.get("uploads", {}).values():
            info.update(permanent=False, next_at=0)

    state.update(cfg.state_path, clear)
    Daemon(cfg, notifier=None).upload_due()
    report = collect(cfg, refresh=False)
    out.write(as_text(report))
    return 0 if not report["pending"] else 1


command = Command("retry", "upload what waits in the spool now", lambda parser: None, run)
