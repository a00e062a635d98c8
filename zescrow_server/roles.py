"""Who may do what beyond their own escrows: the admins and the helpdesk (issue #13).

The server's settings list them (`admins`, `helpdesk`): an entry is an
email ("someone@example.org", matched against the email the provider gave
at login, case-insensitively, only if the provider says it verified it
(`email_verified`) and only in ASCII) or "group:NAME" (a name in the
provider's "groups" claim). Every configured provider is trusted for both:
configure only providers whose users cannot choose their own groups, or
verify an address they do not own. They are read at every request from the settings, not
stored with the session, so that taking someone off the list takes effect
at once. An admin may do everything a helpdesk member may.

    roles(settings, identity)      {"admin", "helpdesk"}, or a part, or none
    require(request, role)         the identity, or Forbidden with what to do
    matching(entries, identity)    the first entry that matches, or None
    listed(entries, entry)         whether `entry` is still among `entries`
"""

from .errors import Forbidden

ADMIN, HELPDESK = "admin", "helpdesk"


def _matches(entries, identity):
    return matching(entries, identity) is not None


def matching(entries, identity):
    # An email counts only if the provider says it verified it, and only in ASCII:
    # "\u212aate@…".lower() is "kate@…" (a Kelvin sign), an address nobody checked.
    email = identity.get("email") or ""
    email = email.lower() if identity.get("email_verified") is True and email.isascii() else ""
    groups = set(identity.get("groups") or ())
    for entry in entries:
        if entry.startswith("group:"):
            if entry[6:] in groups:
                return entry
        elif email and entry.lower() == email:
            return entry
    return None


def listed(entries, entry):
    """Is `entry` (as matching() gave it) still in the settings' `entries`? Emails
    case-insensitively, as they matched."""
    if entry.startswith("group:"):
        return entry in entries
    return entry.lower() in {e.lower() for e in entries if not e.startswith("group:")}


def roles(settings, identity):
    if not identity:
        return set()
    found = set()
    if _matches(settings.admins, identity):
        found |= {ADMIN, HELPDESK}
    elif _matches(settings.helpdesk, identity):
        found.add(HELPDESK)
    return found


def require(request, role):
    """The logged-in identity if it has `role`; Forbidden (403) otherwise. Not logged in at
    all is the caller's to handle first (a redirect to the login)."""
    from .auth import identity as auth

    who = auth.current(request)
    if role not in roles(request.app.state.settings, who):
        raise Forbidden("%s is not among this server's %s (the settings %s list them by "
                        "email or group:NAME); ask the server's administrator"
                        % ((who or {}).get("display", "this login"),
                           "admins" if role == ADMIN else "helpdesk members",
                           "admins" if role == ADMIN else "admins and helpdesk"),
                        code="not-" + role)
    return who
