"""zescrowctl recover ARCHIVE: check a downloaded escrow and walk through getting the data back.

The archive is what the server's download gives: the gzip'd tar of
~/.ecryptfs with unwrapped-passphrase. It is read safely (nothing is
extracted, S7) and its passphrase verified against its Private.sig. The
MOUNT passphrase is printed only with --show-passphrase; --rewrap FILE
writes a new wrapped-passphrase for a new login password instead.
"""

import os

from pam_zescrow import archive_reader, capture, defaults, verify, wrapped_passphrase
from pam_zescrow.errors import EscrowArchiveInvalid, UnreadableFile
from pam_zescrow.fsutil import atomic_write
from pam_zescrow.printable import printable
from pam_zescrow.secret import Secret

from ..errors import ArchiveOfAnotherSetup, FileRefused, NothingToCompare, SealedArchiveGiven
from ..files import NotAFile, read_regular
from .command import Command


def run(args, out):
    opened = None
    if args.request:
        from .recover_request import archive_from_request

        opened = archive_from_request(args, out)
        if opened is None:
            return 1  # approvals are in; nothing asked of the key yet
        data = opened.archive
        args.archive = "the escrow of request %s" % args.request.rstrip("/").rsplit("/", 1)[-1][:8]
    elif args.archive:
        data = _read_file(args.archive, defaults.MAX_ARCHIVE_BYTES * 4)
    else:
        raise UnreadableFile(path="(none)", reason="give the ARCHIVE the server's download gave "
                             "you, or --request URL in custodians mode")
    setup, raw = _read(data, args.archive)
    with Secret(raw) as passphrase:
        verified = verify.verify(setup, passphrase)
        out.write("%s holds a MOUNT passphrase that matches its Private.sig (key signature "
                  "%s%s).\n" % (args.archive, verified.fekek_sig, ", filename key %s"
                               % verified.fnek_sig if verified.fnek_sig else ""))
        if args.ecryptfs_dir:
            _same_setup(args.ecryptfs_dir, args.archive, verified, out)
        if args.rewrap:
            _rewrap(args, passphrase, out)
        if args.show_passphrase:
            out.write("MOUNT passphrase: %s\n" % bytes(passphrase.reveal()).decode(
                "utf-8", "replace"))
    if opened is not None:
        opened.done()  # used: the recovery key of this computer is deleted
    out.write(GUIDE % {"sig": verified.fekek_sig})
    return 0


GUIDE = """
To get your files back (as root, with the encrypted data at hand):
  1. sudo ecryptfs-recover-private /home/.ecryptfs/USER/.Private
  2. When it asks "Do you know your LOGIN passphrase?", answer n.
  3. When it asks for the MOUNT passphrase, give the one in this archive
     (zescrowctl recover ARCHIVE --show-passphrase prints it).
  4. It mounts your files read-only under /tmp/ecryptfs.*; copy them out.
To log in normally again with a new password, write a new wrapped-passphrase:
  zescrowctl recover ARCHIVE --rewrap ~/.ecryptfs/wrapped-passphrase
(key signature %(sig)s: the one ecryptfs-recover-private and Private.sig show)
"""


def _read_file(path, limit, missing=None):
    """The file's bytes; `missing` (when given) if there is no such file."""
    try:
        return read_regular(path, limit)
    except (FileNotFoundError, NotADirectoryError) as err:
        if missing is None:
            raise UnreadableFile(path=path, reason=err.strerror) from None
        return missing
    except NotAFile as err:
        raise err.as_error(FileRefused) from None
    except OSError as err:
        raise UnreadableFile(path=path, reason=err.strerror or str(err)) from None


def _read(data, path):
    try:
        return archive_reader.read(data, path)
    except EscrowArchiveInvalid:
        if _is_sealed(data):  # what the spool held, or a copy of the upload
            raise SealedArchiveGiven(path=path, server=_server_page()) from None
        raise


def _is_sealed(data):
    from pam_zescrow import openpgp

    if data.lstrip().startswith(b"-----BEGIN PGP MESSAGE-----"):
        return True
    try:
        return bool(openpgp.recipients(data))
    except (openpgp.NotOpenPGP, IndexError):
        return False


def _server_page():
    from pam_zescrow.errors import ZescrowError

    from ..config import ClientConfig

    try:
        cfg = ClientConfig()
    except ZescrowError:
        return "your escrow server's page"
    return cfg.url + "/" if cfg.enrolled else "your escrow server's page"


def _same_setup(folder, archive, verified, out):
    """Check that the archive's key is the one `folder`'s Private.sig names."""
    sig_path = os.path.join(folder, defaults.PRIVATE_SIG)
    data = _read_file(sig_path, defaults.MAX_ECRYPTFS_FILE_BYTES, missing=b"")
    sigs = data.decode("ascii", "replace").split()
    if not sigs:
        raise NothingToCompare(folder=folder)
    if sigs[0].lower() != verified.fekek_sig:
        raise ArchiveOfAnotherSetup(path=archive, actual=verified.fekek_sig, sig_path=sig_path,
                                    expected=printable(sigs[0][:64]))
    out.write("It is the key of %s.\n" % folder)


def _rewrap(args, passphrase, out):
    if args.password_fd is not None:
        new = capture.read_fd(args.password_fd, "file descriptor %d" % args.password_fd,
                              strip_newline=True)
    else:
        new = capture.prompt_tty("New LOGIN password: ")
        again = capture.prompt_tty("The same again: ")
        if not new.equals(again):
            raise UnreadableFile(path="the terminal", reason="the two passwords differ")
    with new:
        data = wrapped_passphrase.wrap(passphrase.reveal(), new.reveal())
    atomic_write(args.rewrap, data, 0o600)
    out.write("Wrote %s: your MOUNT passphrase, wrapped with the new password.\n" % args.rewrap)


def add_arguments(parser):
    parser.add_argument("archive", metavar="ARCHIVE", nargs="?",
                        help="the .tar.gz the server gave you (server mode)")
    parser.add_argument("--request", metavar="URL",
                        help="custodians mode: the recovery request's link "
                        "(https://SERVER/recover/…) from the server's page")
    parser.add_argument("--ca-file", metavar="FILE",
                        help="with --request: trust the server's certificate from this CA file")
    parser.add_argument("--ecryptfs-dir", metavar="DIR",
                        help="also check that the archive belongs to this eCryptfs folder")
    parser.add_argument("--show-passphrase", action="store_true",
                        help="print the MOUNT passphrase (it unlocks all your files)")
    parser.add_argument("--rewrap", metavar="FILE",
                        help="write a new wrapped-passphrase for a new login password")
    parser.add_argument("--password-fd", metavar="N", type=int,
                        help="with --rewrap: read the new password from file descriptor N")


command = Command("recover", "check a downloaded escrow and get your data back",
                  add_arguments, run)
