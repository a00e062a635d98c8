"""Every path, mode and limit in one dependency-free module.

`setup.py`, the PAM hook, the daemon and the CLI all import this. Only the
CLI and the daemon honour the small allowlist of environment overrides in
`zescrowd.config`; the PAM hook never reads the environment (STYLE.md §3).
"""

# System enrolment and the pinned server key (DESIGN.md "Files on a client").
CONFIG_DIR = "/etc/zescrow"
SYSTEM_CONFIG = CONFIG_DIR + "/zescrow.conf"
SERVER_KEY = CONFIG_DIR + "/server-key.asc"
CA_FILE = CONFIG_DIR + "/ca.pem"  # setup copies the admin's --ca-file here: users read it
# Custodians mode (docs/formats.md): their public keys, pinned at setup.
CUSTODIANS_KEYS = CONFIG_DIR + "/custodians.asc"
HOST_KEY = "/etc/zescrow/host.key"  # the machine's enrolment key: root's only (#13)
USER_CONFIG = "~/.config/zescrow/zescrow.conf"

# Per-user state lives outside the home: at authentication time an
# encrypted home is not mounted yet.
STATE_ROOT = "/var/lib/zescrow"
SPOOL_DIRNAME = "spool"
STATE_FILENAME = "state.json"

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

# eCryptfs layout (ecryptfs-setup-private).
ECRYPTFS_DIRNAME = ".ecryptfs"
WRAPPED_PASSPHRASE = "wrapped-passphrase"
UNWRAPPED_PASSPHRASE = "unwrapped-passphrase"
PRIVATE_SIG = "Private.sig"
ECRYPTFSRC = ".ecryptfsrc"

# Bounds on what we read from a user's ~/.ecryptfs (S7). A real setup is
# five files of a few hundred bytes; anything much bigger is not eCryptfs.
MAX_ECRYPTFS_FILE_BYTES = 64 * 1024
MAX_ECRYPTFS_ENTRIES = 64
MAX_ARCHIVE_BYTES = 256 * 1024

# Sealing: the throwaway GNUPGHOME lives on a memory file system, with a
# short path (gpg's socket paths break past about 100 characters).
GNUPG_HOME_PARENT = "/dev/shm"
GPG_BINARY = "gpg"
GPG_TIMEOUT_SECONDS = 20

# The hook's time: a hard alarm on the login path (reading the password from
# pam_exec), one for the detached child's decision (reading a few small
# files), and a budget for the escrow itself (two key derivations and gpg),
# after which it is killed with every process it started. `budget=` on the
# pam.d line changes the last, within these bounds.
HOOK_BUDGET_SECONDS = 2
DECIDE_BUDGET_SECONDS = 10
CHILD_BUDGET_SECONDS = 60
CHILD_BUDGET_RANGE = (1, 600)
# After a password that does not unwrap (a hook placed where it sees every
# guess), no key derivation for that user for this long.
WRONG_PASSWORD_BACKOFF_SECONDS = 600
WRONG_PASSWORD_MARKER = "wrong-password.at"

# Spool file names: NAME.gpg (the sealed archive) then NAME.json (its
# metadata). The JSON is written last: its presence means the pair is whole.
SEALED_SUFFIX = ".gpg"
META_SUFFIX = ".json"
# A spool name carries the first characters of the setup digest, and
# USER/escrowed.digest holds the digest of the last acknowledged escrow:
# what the hook's decide step compares with, without parsing JSON.
DIGEST_IN_NAME = 16
ESCROWED_MARKER = "escrowed.digest"
