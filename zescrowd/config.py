"""Where the daemon and the CLI find things: the enrolment, the state, the spool.

The system enrolment (/etc/zescrow/zescrow.conf), overlaid by the user's
own choice (~/.config/zescrow/zescrow.conf, written by `zescrowctl
setup`). Unlike the PAM hook, the CLI and the daemon accept a short
allowlist of environment overrides, so that tests and golden runs work
unprivileged in a temporary folder:

    ZESCROW_CONF        the system enrolment file
    ZESCROW_USER_CONF   the user's file
    ZESCROW_STATE_DIR   instead of /var/lib/zescrow
"""

import os
import pwd

from pam_zescrow import config, defaults


class ClientConfig:
    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        self.system_path = env.get("ZESCROW_CONF") or defaults.SYSTEM_CONFIG
        self.user_path = env.get("ZESCROW_USER_CONF") or os.path.expanduser(
            defaults.USER_CONFIG)
        self.state_root = env.get("ZESCROW_STATE_DIR") or defaults.STATE_ROOT
        self.uid = os.getuid()
        self.user = _user_name(self.uid)
        system = config.load(self.system_path)
        self.min_uid = system.min_uid  # the PAM hook reads only the system's policy
        user = config.load(self.user_path)
        chosen = user if user.enrolled else system
        self.source = self.user_path if user.enrolled else self.system_path
        self.url = chosen.url.rstrip("/")
        self.fingerprint = chosen.fingerprint
        self.key_file = chosen.key_file
        self.ca_file = chosen.ca_file
        self.custodians = chosen.custodians_mode()
        self.enrolled = chosen.enrolled

    @property
    def ecryptfs_dir(self):
        return os.path.expanduser("~/" + defaults.ECRYPTFS_DIRNAME)

    @property
    def user_dir(self):
        # The PAM hook's folder when there is one (or an override); a user
        # who escrows by hand, without the hook, keeps state in their home.
        system = os.path.join(self.state_root, self.user)
        if self.state_root != defaults.STATE_ROOT or os.path.isdir(system):
            return system
        return os.path.join(os.environ.get("XDG_STATE_HOME") or os.path.expanduser(
            "~/.local/state"), "zescrow")

    @property
    def spool_dir(self):
        return os.path.join(self.user_dir, defaults.SPOOL_DIRNAME)

    @property
    def state_path(self):
        return os.path.join(self.user_dir, defaults.STATE_FILENAME)

    def host_key_path(self, conf_path):
        """Where setup --token keeps the host key: beside the system config."""
        return os.path.join(os.path.dirname(os.path.abspath(conf_path)), "host.key")

    def verify_for(self, url):
        """What requests should verify TLS with for `url`: our CA file, or the system's."""
        if self.ca_file and url.rstrip("/") == self.url:
            return self.ca_file
        return True


def _user_name(uid):
    # The uid, not $USER or $LOGNAME: those are whatever the caller's
    # environment says (su and setpriv keep them), and they name the state folder.
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
