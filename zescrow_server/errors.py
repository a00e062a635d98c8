"""The server's errors: never a stack trace.

Over HTTP, an ApiError answers JSON `{"error": code, "message": ...}`. For
the `zescrow-server` command, a ZescrowError carries the message, what to
do and the exit code (docs/errors.md), and the command prints one line.
"""

from pam_zescrow.errors import ZescrowError


class ApiError(Exception):
    status = 400
    code = "bad-request"

    def __init__(self, message, status=None, code=None, headers=None):
        super().__init__(message)
        self.message = message
        self.status = status or self.status
        self.code = code or self.code
        self.headers = headers or {}

    def as_json(self):
        return {"error": self.code, "message": self.message}


class NotFound(ApiError):
    status, code = 404, "not-found"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class LoginFailed(ApiError):
    """The provider's answer does not hold: never a session, never a 500."""
    status, code = 400, "login-failed"


class LoginNotFresh(ApiError):
    """Asked for a fresh login, the provider vouched for an old one, or for none."""
    status, code = 403, "login-not-fresh"


class InvalidRequest(ApiError):
    status, code = 400, "invalid-request"


class RequestTimeout(ApiError):
    """Not all of the request came within request_timeout_seconds (deadline.py)."""
    status, code = 408, "request-timeout"

    def __init__(self, seconds):
        super().__init__("the request was not complete within %g s; send it again, all at "
                         "once" % seconds)


class RateLimited(ApiError):
    """This address's uploads are over rate_limit_per_minute, counted on every node."""
    status, code = 429, "rate-limited"

    def __init__(self, seconds):
        super().__init__("too many uploads from your address; try again in %d s" % seconds,
                         headers={"Retry-After": str(seconds)})


class StorageFull(ApiError):
    """The unclaimed escrows are at max_unclaimed_escrows or max_unclaimed_bytes."""
    status, code = 507, "storage-full"
    RETRY_SECONDS = 600

    def __init__(self, what):
        super().__init__("this server holds as many unclaimed escrows as it may (%s); the "
                         "archive stays with the client, which tries again later; claims, "
                         "deletions and expiry make room" % what,
                         headers={"Retry-After": str(self.RETRY_SECONDS)})


class TooLarge(ApiError):
    """A request body over its path's limit, refused before it is read (bodylimit.py)."""
    status, code = 413, "too-large"

    def __init__(self, limit, length=None):
        super().__init__("the request body is %s bytes; this server takes at most %d bytes "
                         "here" % ("over %d" % limit if length is None else length, limit))


# --- zescrow-server, the command: one line each, exit codes 80-99 (docs/errors.md) ---

class ServerConfigInvalid(ZescrowError):
    code, exit_code = "server-config-invalid", 80
    message = "the server's settings cannot be used: {reason} (in {source})"
    hint = "fix {source}; each setting is described in /usr/share/doc/zescrow-server/docs/server.md"


class DataFolderMissing(ZescrowError):
    code, exit_code = "data-folder-missing", 81
    message = "{path} is not a zescrow server's data folder: {reason}"
    hint = "make it with: {command}"


class DataFolderUnreadable(ZescrowError):
    code, exit_code = "data-folder-unreadable", 82
    message = ("cannot use the data folder {path}: {blocked} belongs to {owner}, not to you "
               "({user})")
    hint = "run the command with sudo (as root, zescrow-server acts as the folder's owner)"


class DataFileUnreadable(ZescrowError):
    code, exit_code = "data-file-unreadable", 83
    message = "cannot use {path}: {reason}"
    hint = ("everything in the data folder must belong to its owner, {owner}: "
            "chown -R {owner}: {folder}")


class DataFolderOwnerUnknown(ZescrowError):
    code, exit_code = "data-folder-owner-unknown", 84
    message = "the data folder {path} belongs to uid {uid}, which is no user of this machine"
    hint = "give it to the server's user: chown -R zescrow-server: {path}"


class BindInvalid(ZescrowError):
    code, exit_code = "bind-invalid", 85
    message = "bind \"{bind}\" is not an IP address of this machine and a port"
    hint = ("give ADDRESS:PORT, e.g. 0.0.0.0:8443 (every IPv4 address) or [::]:8443; the "
            "name clients use belongs in --hostname and public_url")


class BindFailed(ZescrowError):
    code, exit_code = "bind-failed", 86
    message = "cannot listen on {bind}: {reason}"
    hint = ("choose an address this machine has (ip -brief address) in bind, in {conf}; "
            "ports below 1024 need CAP_NET_BIND_SERVICE")


class PortInUse(ZescrowError):
    code, exit_code = "port-in-use", 87
    message = "cannot listen on {bind}: another program listens there"
    hint = "see which with: ss -ltnp 'sport = :{port}'; stop it, or choose another bind in {conf}"


class NoCertificate(ZescrowError):
    code, exit_code = "no-tls-certificate", 88
    message = "no TLS certificate at {path}"
    hint = ("run zescrow-server init --self-signed, set tls_cert and tls_key in {conf}, or "
            "plain_http = true behind a TLS proxy")


class ServerKeyUnusable(ZescrowError):
    code, exit_code = "server-key-unusable", 89
    message = "the server key in {home} cannot be used: {reason}"
    hint = ("run zescrow-server init as the data folder's owner; keep the folder's path short "
            "(gpg's sockets break past about 100 characters)")


class DatabaseUnavailable(ZescrowError):
    code, exit_code = "database-unavailable", 90
    message = "the database cannot be used: {reason}"
    hint = "check database_url in {conf} and that the database server runs"


class CustodiansInvalid(ZescrowError):
    code, exit_code = "custodians-invalid", 91
    message = "the custodians cannot be used: {reason}"
    hint = ("give init a file with each custodian's OpenPGP public key (gpg --armor --export "
            "FPR ... > custodians.asc) and --threshold K, with 2 <= K <= their number")


class AdminTargetUnknown(ZescrowError):
    code, exit_code = "admin-target-unknown", 92
    message = "there is no {what} {ident}"
    hint = "list them with zescrow-server admin {listing}"


class AdminArgumentInvalid(ZescrowError):
    code, exit_code = "admin-argument-invalid", 93
    message = "{argument} {value!r} cannot be used: {reason}"
    hint = "{example}"
