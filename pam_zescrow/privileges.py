"""Acting as the user: the hook runs as root, the user's files are read as the user.

Reading ~/.ecryptfs as root would let a user point it (or a file in it) at
/etc/shadow and have root archive that for them. So every read of a
user-controlled path happens with the user's uid, gids and groups
(fscrypt's StartAsPamUser/StopAsPamUser), and the detached child that
unwraps and seals drops root for good before it starts.
"""

import os
import pwd

from .errors import NotAllowed


class User:
    def __init__(self, entry):
        self.name, self.uid, self.gid = entry.pw_name, entry.pw_uid, entry.pw_gid
        self.home = entry.pw_dir
        self.groups = os.getgrouplist(entry.pw_name, entry.pw_gid)

    @classmethod
    def lookup(cls, name):
        try:
            return cls(pwd.getpwnam(name))
        except KeyError:
            raise NotAllowed(user=name, reason="there is no such user") from None


class as_user:
    """Run the block with the user's effective ids; back to the old ones after.

    A class, not @contextlib.contextmanager: contextlib (with functools and
    collections) costs ~2 ms of every login."""

    def __init__(self, user):
        self.user = user
        self.saved = None

    def __enter__(self):
        user = self.user
        if os.geteuid() == user.uid:  # already the user (pam_exec without seteuid, under su)
            return self
        if os.geteuid() != 0:
            raise NotAllowed(user=user.name, reason="the hook runs as uid %d, neither root "
                             "nor the user" % os.geteuid())
        self.saved = (os.getgroups(), os.getegid())
        os.setgroups(user.groups)
        os.setegid(user.gid)
        os.seteuid(user.uid)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            groups, gid = self.saved
            os.seteuid(0)
            os.setegid(gid)
            os.setgroups(groups)
            self.saved = None
        return False


def become(user):
    """Drop to the user for good (real, effective and saved ids)."""
    if os.getuid() == user.uid and os.geteuid() == user.uid:
        return
    os.setgroups(user.groups)
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    if os.geteuid() != user.uid or os.getegid() != user.gid:  # never go on as root
        raise NotAllowed(user=user.name, reason="dropping privileges failed")
