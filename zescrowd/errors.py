"""What can go wrong between the spool and the server: each with its cause and a next step.

`transient` errors are retried with backoff; the others wait for the user
(the server refused the archive for a reason that retrying will not fix).
"""

from pam_zescrow.errors import ZescrowError


class UploadError(ZescrowError):
    transient = True


class ServerUnreachable(UploadError):
    code, exit_code = "server-unreachable", 50
    message = "cannot reach the escrow server {host}: {reason}"
    hint = "check the network; zescrowd retries by itself (zescrowctl retry to try now)"


class TlsFailed(UploadError):
    code, exit_code = "tls-failed", 51
    message = "certificate verify failed for {host} ({reason})"
    hint = ("if the server uses its own CA, set ca_file in {conf} (or zescrowctl setup "
            "{url} --ca-file CA.pem)")


class ServerFailed(UploadError):
    code, exit_code = "server-error", 52
    message = "the escrow server {host} failed (HTTP {status}): {reason}"
    hint = "zescrowd retries by itself; if it persists, tell the server's administrator"


class RateLimited(UploadError):
    code, exit_code = "rate-limited", 53
    message = "the escrow server {host} asks to wait {seconds} s (too many uploads)"
    hint = "zescrowd retries by itself after that"


class ChecksumMismatch(UploadError):
    code, exit_code = "checksum-mismatch", 54
    message = ("the server {host} answered sha256 {got} for an archive whose sha256 is "
               "{sent}: it did not receive what was sent")
    hint = "zescrowd retries by itself; if it persists, a proxy may be changing uploads"


class Refused(UploadError):
    transient = False
    code, exit_code = "upload-refused", 55
    message = "the escrow server {host} refused the archive (HTTP {status}, {error}): {reason}"
    hint = "fix what the server says, then: zescrowctl retry"


class KeyChanged(UploadError):
    transient = False
    code, exit_code = "server-key-changed", 56
    message = ("the escrow server {host} now publishes key {actual}, but {expected} is pinned: "
               "not uploading")
    hint = ("someone may be impersonating the server, or its key was replaced; ask its "
            "administrator for the fingerprint, then: zescrowctl setup {url} --fingerprint FPR")


class NotEnrolled(ZescrowError):
    code, exit_code = "not-enrolled", 57
    message = "no escrow server is set up (neither {system} nor {user} names one)"
    hint = "choose one with: zescrowctl setup SERVER_URL"


class NoEscrow(ZescrowError):
    code, exit_code = "no-escrow", 58
    message = "nothing has been escrowed yet from this account"
    hint = ("log in again (the PAM hook escrows at login), or run: zescrowctl escrow")
