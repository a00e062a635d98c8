"""What zescrowd and zescrowctl can meet: each failure with its cause and a next step.

Upload errors: `transient` ones are retried with backoff; the others wait
for the user (the server refused the archive for a reason that retrying
will not fix). Then the account's situation, setup's errors (each ends with
"nothing was changed": a failed setup never leaves half an enrolment), and
recover's wrong files. Exit codes are listed in docs/errors.md.
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


class ServerAnswerInvalid(UploadError):
    code, exit_code = "server-answer-invalid", 73
    message = "the escrow server {host} gave an answer zescrow cannot use ({what}): {reason}"
    hint = ("zescrowd retries by itself; if it persists, tell the server's administrator (a "
            "proxy or a captive portal in between gives such answers too)")


class ServerTooSlow(UploadError):
    code, exit_code = "server-too-slow", 74
    message = "the escrow server {host} did not complete its answer within {seconds} s"
    hint = ("zescrowd retries by itself; if it persists, tell the server's administrator (a "
            "slow network or proxy does this too)")


class KeyChanged(UploadError):
    transient = False
    code, exit_code = "server-key-changed", 56
    message = ("the escrow server {host} now publishes key {actual}, but {expected} is pinned: "
               "not uploading")
    hint = ("someone may be impersonating the server, or its key was replaced; ask its "
            "administrator for the fingerprint, then: zescrowctl setup {url} --fingerprint FPR")


class ClaimUrlRefused(ZescrowError):
    code, exit_code = "claim-url-refused", 75
    message = ("the escrow server {host} answered a claim link that zescrow does not open "
               "({reason}); your key is stored there, at {origin}")
    hint = ("a claim link must start with {origin}: tell the server's administrator (its "
            "public_url must be that address); once it is fixed, escrow again: zescrowctl "
            "escrow")


# --- the account's situation: why there is no escrow (yet) ---------------

class NotEnrolled(ZescrowError):
    code, exit_code = "not-enrolled", 57
    message = "no escrow server is set up (neither {system} nor {user} names one)"
    hint = ("ask the administrator to enrol this machine (zescrowctl setup SERVER_URL "
            "--system), or choose a server for your own account: zescrowctl setup SERVER_URL")


class NoEscrow(ZescrowError):
    code, exit_code = "no-escrow", 58
    message = "nothing has been escrowed yet from this account"
    hint = ("log in again (the PAM hook escrows at login), or run: zescrowctl escrow")


class SystemAccount(ZescrowError):
    code, exit_code = "system-account", 59
    message = ("zescrow does not escrow {user}: uid {uid} is below min_uid {min_uid}, and "
               "root and system accounts are left out")
    hint = ("run zescrowctl as the user whose eCryptfs home is to be backed up; to enrol "
            "this machine for all its users: zescrowctl setup SERVER_URL --system")


class NoEcryptfsHome(ZescrowError):
    code, exit_code = "no-ecryptfs-home", 60
    message = "{user} has no eCryptfs home: there is no {path}, so there is no key to escrow"
    hint = ("zescrow backs up the key of a home encrypted with ecryptfs-setup-private or "
            "ecryptfs-migrate-home; an account without one needs nothing from zescrow")


class NotUploadedYet(ZescrowError):
    code, exit_code = "not-uploaded-yet", 61
    message = "an archive waits in the spool {spool}: it is not uploaded yet"
    hint = "zescrowctl status shows why; zescrowctl retry uploads it now"


# --- setup: choosing a server and pinning its key --------------------------

class SetupNeedsRoot(ZescrowError):
    code, exit_code = "setup-needs-root", 62
    message = "setup --system writes {path}, which only root may change (you are {user})"
    hint = ("run it as root: sudo zescrowctl setup {url} --system (with the same options); "
            "or leave out --system to choose a server for your own account; nothing was "
            "changed")


class SetupBadUrl(ZescrowError):
    code, exit_code = "setup-bad-url", 63
    message = "{url} is not the https:// address of an escrow server: {reason}"
    hint = ("give the address as https://HOST[:PORT], e.g.: zescrowctl setup {suggestion}; "
            "nothing was changed")


class SetupUnreachable(ZescrowError):
    code, exit_code = "setup-unreachable", 64
    message = "cannot reach an escrow server at {host}: {reason}"
    hint = ("check the host and port, and ask the server's administrator whether it runs "
            "(zescrow-server serve); nothing was changed")


class SetupNotTls(ZescrowError):
    code, exit_code = "setup-not-tls", 65
    message = ("{host} does not answer TLS ({reason}): it speaks plain HTTP, or something "
               "else, on that port")
    hint = ("give the server's HTTPS port, the one in its public_url (a plain-HTTP port is "
            "for a TLS proxy in front of it); nothing was changed")


class SetupTlsFailed(ZescrowError):
    code, exit_code = "setup-tls-failed", 66
    message = "certificate verify failed for {host} ({reason})"
    hint = ("give the CA that signed the server's certificate: zescrowctl setup {url} "
            "--ca-file CA.pem (its administrator has it; zescrow-server init --self-signed "
            "makes DATA/tls/ca.pem); nothing was changed")


class SetupNotAServer(ZescrowError):
    code, exit_code = "setup-not-a-server", 67
    message = "{url} is not the address of a zescrow server: {reason}"
    hint = ("give the server's address as its administrator gives it, without a path, e.g.: "
            "zescrowctl setup {base} (with the same options); nothing was changed")


class SetupServerFailed(ZescrowError):
    code, exit_code = "setup-server-failed", 68
    message = "the escrow server {host} failed (HTTP {status}): {reason}"
    hint = ("try again later; if it persists, tell the server's administrator; nothing was "
            "changed")


class SetupFingerprintMismatch(ZescrowError):
    code, exit_code = "setup-fingerprint-mismatch", 69
    message = ("the server {host} publishes the key {actual}, not the {expected} you gave "
               "with --fingerprint")
    hint = ("check the fingerprint with the server's administrator (zescrow-server init "
            "prints it); if theirs is the one you gave, someone between you and the server "
            "may be impersonating it; nothing was changed")


class SetupNeedsConfirmation(ZescrowError):
    code, exit_code = "setup-needs-confirmation", 70
    message = "there is no terminal to ask whether {fingerprint} is the key of {url}"
    hint = ("compare it with the fingerprint the server's administrator gives you, then run "
            "again with --fingerprint FPR (pins only that key), or with --yes (pins the key "
            "the server shows); nothing was changed")


class SetupBadCaFile(ZescrowError):
    code, exit_code = "setup-bad-ca-file", 71
    message = "{path} cannot be used as a CA file: {reason}"
    hint = ("give the PEM file of the CA that signed the server's certificate "
            "(zescrow-server init --self-signed makes DATA/tls/ca.pem); nothing was changed")


class SetupUnwritable(ZescrowError):
    code, exit_code = "setup-unwritable", 72
    message = "cannot write the enrolment {path}: {reason}"
    hint = ("check the folder with: ls -ld {folder}; then run setup again (the enrolment may "
            "be incomplete until it succeeds)")


# --- files a user names --------------------------------------------------------

class FileRefused(ZescrowError):
    code, exit_code = "file-refused", 44
    message = "refusing {path}: {reason}"
    hint = ("give the file itself: a regular file (not a device, a fifo or a folder) of at "
            "most {limit} bytes")


# --- recover: the wrong file --------------------------------------------------

class SealedArchiveGiven(ZescrowError):
    code, exit_code = "sealed-archive-given", 41
    message = ("{path}: this is the sealed archive (OpenPGP, encrypted to the escrow server's "
               "key), which only the server can open")
    hint = ("download the claimed one from the server ({server}: sign in, then Download), and "
            "run: zescrowctl recover DOWNLOADED.tar.gz")


class ArchiveOfAnotherSetup(ZescrowError):
    code, exit_code = "archive-of-another-setup", 42
    message = ("{path} belongs to another setup: its key signature is {actual}, but "
               "{sig_path} says {expected}")
    hint = ("download the escrow whose key signature is {expected} (the server's list shows "
            "each one's), or give --ecryptfs-dir the folder this archive came from")


class NothingToCompare(ZescrowError):
    code, exit_code = "nothing-to-compare", 43
    message = "{folder} has no Private.sig to compare the archive with"
    hint = ("give --ecryptfs-dir the .ecryptfs folder of the home being recovered (e.g. "
            "/home/.ecryptfs/USER/.ecryptfs), or leave it out")


class SetupCustodiansMismatch(ZescrowError):
    code, exit_code = "setup-custodians-mismatch", 76
    message = ("the server {host} publishes the custodians {actual}, not the {expected} you "
               "gave with --custodians")
    hint = ("check the custodians with the server's administrator; nothing was changed")


class SetupCustodiansInvalid(ZescrowError):
    code, exit_code = "setup-custodians-invalid", 77
    message = "the server {host} publishes custodians zescrow cannot pin: {reason}"
    hint = ("tell the server's administrator (zescrow-server init --custodians FILE "
            "--threshold K); nothing was changed")


class RecoveryWaiting(ZescrowError):
    code, exit_code = "recovery-waiting", 78
    message = ("recovery request {request}: {approved} of the {need} custodian approvals it "
               "needs are in{declined}")
    hint = ("your custodians were asked; run the same command again later (it keeps this "
            "computer's recovery key until then). Request expires {expires} UTC")


class RecoveryRefused(ZescrowError):
    code, exit_code = "recovery-refused", 79
    message = "the server refused the recovery request's step: {reason}"
    hint = "{what_next}"


class CustodianKeyNotHere(ZescrowError):
    code, exit_code = "custodian-key-not-here", 48
    message = ("none of this request's custodians ({custodians}) has a secret key in "
               "{gnupghome}")
    hint = ("run the command as the custodian, with the gpg home (--gnupghome) or smartcard "
            "that holds their key")


class CustodianNotConfirmed(ZescrowError):
    code, exit_code = "custodian-not-confirmed", 49
    message = "nothing was sent: {reason}"
    hint = ("check the requester's key fingerprint with the person who asked, by a way you "
            "trust, then run the command again")


class SetupEnrolmentRefused(ZescrowError):
    code, exit_code = "setup-enrolment-refused", 27
    message = "the server {host} did not enrol this machine: {reason}"
    hint = ("ask the server's administrator for a valid token (zescrow-server admin "
            "enrol-token create); nothing was changed")


class ReportNotEnrolled(ZescrowError):
    code, exit_code = "report-not-enrolled", 28
    message = "no coverage report was sent: {reason}"
    hint = ("coverage reports are for machines enrolled with a token (zescrowctl setup URL "
            "--system --token T, as root); nothing was sent")


class ReportRefused(ZescrowError):
    code, exit_code = "report-refused", 29
    message = "the server {host} refused this machine's coverage report (HTTP {status}): {reason}"
    hint = ("if the machine was revoked or set up anew, enrol it again with a new token "
            "(zescrowctl setup URL --system --token T); if its clock is off, set it "
            "(timedatectl); the timer reports again tomorrow")
