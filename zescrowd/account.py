"""Why the account running zescrowctl has no escrow (yet): the answer status,
claim and retry give, most useful first.

    an archive waits in the spool      → waiting-for-upload
    root or a system account           → not-applicable (the PAM hook skips uid < min_uid)
    no ~/.ecryptfs/wrapped-passphrase  → not-applicable (no key to escrow)
    no server set up                   → not-enrolled
    otherwise                          → not-escrowed-yet (it happens at the next login)
"""

import os

from pam_zescrow import defaults

from .errors import NoEcryptfsHome, NoEscrow, NotEnrolled, NotUploadedYet, SystemAccount

STATES = {NotUploadedYet: "waiting-for-upload", SystemAccount: "not-applicable",
          NoEcryptfsHome: "not-applicable", NotEnrolled: "not-enrolled",
          NoEscrow: "not-escrowed-yet"}


def why_no_escrow(cfg, pending):
    """The error that explains why there is no escrow, given the spool's entries."""
    if pending:
        return NotUploadedYet(spool=cfg.spool_dir)
    if cfg.uid < cfg.min_uid:
        return SystemAccount(user=cfg.user, uid=cfg.uid, min_uid=cfg.min_uid)
    wrapped = os.path.join(cfg.ecryptfs_dir, defaults.WRAPPED_PASSPHRASE)
    if not os.path.exists(wrapped):
        return NoEcryptfsHome(user=cfg.user, path=wrapped)
    if not cfg.enrolled:
        return NotEnrolled(system=cfg.system_path, user=cfg.user_path)
    return NoEscrow()


def state_of(error):
    return STATES[type(error)]
