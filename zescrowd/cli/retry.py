"""zescrowctl retry: try the pending uploads now, including refused ones."""

from pam_zescrow import spool, state

from ..config import ClientConfig
from .command import Command


def run(args, out):
    # Imported here: every zescrowctl start pays for what its module imports.
    from ..daemon import Daemon
    from .status import as_text, collect

    cfg = ClientConfig()

    def clear(current):
        for info in current.get("uploads", {}).values():
            info.update(permanent=False, next_at=0)

    state.update(cfg.state_path, clear)
    if not spool.pending(cfg.spool_dir):
        out.write("Nothing waits in the spool.\n")
        return 0
    Daemon(cfg, notifier=None).upload_due()
    report = collect(cfg, refresh=False)
    out.write(as_text(report))
    return 0 if not report["pending"] else 1


command = Command("retry", "upload what waits in the spool now", lambda parser: None, run)
