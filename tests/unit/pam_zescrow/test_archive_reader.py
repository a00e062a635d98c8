"""Reading an escrow archive back (server verification, recover): safe by construction (S7)."""

import gzip
import io
import tarfile

import pytest

from pam_zescrow import archive, archive_reader, ecryptfs_dir, verify
from pam_zescrow.errors import EscrowArchiveInvalid
from pam_zescrow.secret import Secret
from tests.common.ecryptfs_tools import make_setup


def test_round_trip_verifies(tmp_path, real_tools):
    mount = b"4f" * 16
    setup = ecryptfs_dir.read(str(make_setup(tmp_path, mount, b"login")))
    read, passphrase = archive_reader.read(archive.build(setup, Secret(mount)).data)
    assert passphrase == mount
    assert verify.verify(read, Secret(passphrase)).fekek_sig == verify.verify(
        setup, Secret(mount)).fekek_sig


def _tar(*members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buf.getvalue())


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize("member, words", [
    (_file("/etc/passwd"), "escapes"),
    (_file(".ecryptfs/../../x"), "escapes"),
    (_file("elsewhere/x"), "outside .ecryptfs/"),
    (_special(".ecryptfs/link", tarfile.SYMTYPE, "/etc/shadow"), "link or a device"),
    (_special(".ecryptfs/hard", tarfile.LNKTYPE, ".ecryptfs/Private.sig"), "link or a device"),
    (_special(".ecryptfs/dev", tarfile.CHRTYPE), "link or a device"),
    (_special(".ecryptfs/fifo", tarfile.FIFOTYPE), "link or a device"),
    (_file(".ecryptfs/big", b"b" * (64 * 1024 + 1)), "too large"),
])
def test_unsafe_members_are_refused(member, words):
    data = _tar(_file(".ecryptfs/unwrapped-passphrase", b"p\n"), member)
    with pytest.raises(EscrowArchiveInvalid, match=words):
        archive_reader.read(data)


def test_not_gzip_not_tar_and_no_passphrase():
    with pytest.raises(EscrowArchiveInvalid, match="gzip"):
        archive_reader.read(b"plain")
    with pytest.raises(EscrowArchiveInvalid, match="not a tar"):
        archive_reader.read(gzip.compress(b"\x01" * 1024))
    with pytest.raises(EscrowArchiveInvalid, match="unwrapped-passphrase"):
        archive_reader.read(_tar(_file(".ecryptfs/Private.sig", b"00\n")))


def test_a_gzip_bomb_is_bounded():
    with pytest.raises(EscrowArchiveInvalid, match="unpacks to more"):
        archive_reader.read(gzip.compress(b"\0" * (4 * 1024 * 1024)))


def _folder(name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info, None


def test_the_2012_clients_folder_name_is_accepted(tmp_path, real_tools):
    # The 2012 client tarred a copy named "ecryptfs" (no dot), its passphrase as
    # ecryptfs-unwrap-passphrase prints it, newline and all.
    mount = b"4f" * 16
    setup = ecryptfs_dir.read(str(make_setup(tmp_path, mount, b"login")))
    members = [_folder("ecryptfs")] + [_file("ecryptfs/" + e.name, e.data) for e in
                                       setup.entries if e.name != "wrapped-passphrase"]
    members.append(_file("ecryptfs/unwrapped-passphrase", mount + b"\n"))
    read, passphrase = archive_reader.read(_tar(*members))
    assert passphrase == mount
    assert verify.verify(read, Secret(passphrase)).fekek_sig == verify.verify(
        setup, Secret(mount)).fekek_sig


@pytest.mark.parametrize("members", [
    [_file(".ecryptfs/unwrapped-passphrase", b"p\n"), _file("ecryptfs/Private.sig")],
    [_file("ecryptfs/unwrapped-passphrase", b"p\n"), _file(".ecryptfs/Private.sig")],
    [_file("ecryptfs/unwrapped-passphrase", b"p\n"), _folder("ecryptfsx")],
    [_file("ecryptfs/unwrapped-passphrase", b"p\n"), _file("ecryptfs2/x")],
    [_file("ecryptfs/unwrapped-passphrase", b"p\n"), _file("ecryptfs")],
])
def test_one_top_folder_only_and_nothing_beside_it(members):
    with pytest.raises(EscrowArchiveInvalid, match="outside"):
        archive_reader.read(_tar(*members))


def _pax(value):
    info, data = _file(".ecryptfs/unwrapped-passphrase", b"p\n")
    info.pax_headers = {"mtime": value}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


@pytest.mark.parametrize("data, words", [
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 16, "not gzip data"),
    (gzip.compress(b"x" * 4096)[:-12], "not gzip data"),
    (_pax("1e999"), "time"),
    (_pax("-1e999"), "time"),
    (_pax("nan"), "time"),
    (_tar(_folder(".ecryptfs/unwrapped-passphrase")), "folder"),
    (_tar(_file(".ecryptfs/unwrapped-passphrase", b"p\n"), _folder(".ecryptfs/Private.sig")),
     "folder"),
])
def test_damaged_archives_are_refused_with_a_reason(data, words):
    with pytest.raises(EscrowArchiveInvalid, match=words):
        archive_reader.read(data)
