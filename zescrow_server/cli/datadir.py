"""The data folder as every command needs it: found, reachable, and used as its owner.

As root, a command becomes the folder's owner before it touches anything
(the package makes /var/lib/zescrow-server for the zescrow-server user):
files that root made there would be unreadable to the service, which runs
as that user.
"""

import os
import pwd

from ..config import CONFIG_NAME
from ..errors import (DataFileUnreadable, DataFolderMissing, DataFolderOwnerUnknown,
                      DataFolderUnreadable)

DEFAULT = "/var/lib/zescrow-server"
MADE_BY_INIT = "session.key"  # init writes it; serve and admin cannot start without it


def resolve(given):
    """--data, else $ZESCROW_SERVER_DATA_DIR, else the packaged folder."""
    return os.path.abspath(given or os.environ.get("ZESCROW_SERVER_DATA_DIR") or DEFAULT)


def act_as_owner(path):
    """As root, switch for good to the user owning `path` (if it exists and is not root's)."""
    if os.geteuid() != 0 or not os.path.isdir(path):
        return
    uid = os.stat(path).st_uid
    if uid == 0:
        return
    try:
        owner = pwd.getpwuid(uid)
    except KeyError:
        raise DataFolderOwnerUnknown(path=path, uid=uid) from None
    os.initgroups(owner.pw_name, owner.pw_gid)
    os.setgid(owner.pw_gid)
    os.setuid(owner.pw_uid)
    os.environ["HOME"] = owner.pw_dir  # for gpg and anything else that looks there


def check_reachable(path):
    """If `path` exists, that this user may reach, read and write it."""
    blocked = _blocking(path)
    if blocked:
        raise DataFolderUnreadable(path=path, blocked=blocked, owner=_owner(blocked),
                                   user=_user_name(os.getuid()))


def check_made(path):
    """For serve and admin: the folder is there, reachable, and init has run in it."""
    check_reachable(path)
    if not os.path.isdir(path):
        raise DataFolderMissing(path=path, reason="it does not exist",
                                command=init_command(path))
    if not os.path.exists(os.path.join(path, MADE_BY_INIT)):
        raise DataFolderMissing(path=path, reason="init has not run in it (there is no %s)"
                                % MADE_BY_INIT, command=init_command(path))


def permission_error(err, path):
    """A PermissionError met inside the data folder, as what the admin should do about it."""
    blocked = _blocking(path)
    if blocked:
        return DataFolderUnreadable(path=path, blocked=blocked, owner=_owner(blocked),
                                    user=_user_name(os.getuid()))
    return DataFileUnreadable(path=err.filename or path, reason=err.strerror,
                              owner=_owner(path), folder=path)


def _blocking(path):
    """The first of `path` and its parents this user may not use, or None."""
    parts = path.split(os.sep)
    for depth in range(2, len(parts) + 1):
        folder = os.sep.join(parts[:depth])
        if not os.path.isdir(folder):
            return None  # what does not exist yet blocks nothing (init makes it)
        need = os.X_OK if depth < len(parts) else os.R_OK | os.W_OK | os.X_OK
        if not os.access(folder, need):
            return folder
    return None


def init_command(path):
    return "sudo zescrow-server init" if path == DEFAULT else "zescrow-server --data %s init" % path


def conf_path(path):
    return os.path.join(path, CONFIG_NAME)


def _owner(path):
    try:
        return _user_name(os.stat(path).st_uid)
    except OSError:
        return "its owner"


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid
