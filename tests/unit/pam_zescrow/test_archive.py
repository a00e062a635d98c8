"""The escrow archive: what is in it, what is not, and that it is deterministic."""

import gzip
import io
import tarfile

from pam_zescrow import archive, ecryptfs_dir
from pam_zescrow.secret import Secret
from tests.common.ecryptfs_tools import make_setup


def _setup(tmp_path):
    path = make_setup(tmp_path, b"4f" * 16, b"login")
    return ecryptfs_dir.read(str(path))


def test_wrapped_is_replaced_by_unwrapped(tmp_path, real_tools):
    setup = _setup(tmp_path)
    built = archive.build(setup, Secret(b"4f" * 16))
    with tarfile.open(fileobj=io.BytesIO(built.data), mode="r:gz") as tar:
        names = tar.getnames()
        member = tar.getmember(".ecryptfs/unwrapped-passphrase")
        content = tar.extractfile(member).read()
    assert ".ecryptfs/wrapped-passphrase" not in names
    assert content == b"4f" * 16 + b"\n"
    assert member.mode == 0o600
    assert member.mtime == setup.get("wrapped-passphrase").mtime
    assert sorted(names) == [".ecryptfs", ".ecryptfs/Private.mnt", ".ecryptfs/Private.sig",
                             ".ecryptfs/auto-mount", ".ecryptfs/auto-umount",
                             ".ecryptfs/unwrapped-passphrase"]
    replaced = [m for m in built.members if m.replaced]
    assert [(m.name, m.replaced) for m in replaced] == [
        (".ecryptfs/unwrapped-passphrase", "wrapped-passphrase")]


def test_same_input_gives_the_same_bytes(tmp_path, real_tools):
    setup = _setup(tmp_path)
    first = archive.build(setup, Secret(b"4f" * 16)).data
    again = archive.build(ecryptfs_dir.read(setup.path), Secret(b"4f" * 16)).data
    assert first == again
    assert gzip.decompress(first)  # a real gzip stream
    assert first[4:8] == b"\0\0\0\0"  # no time in the gzip header


def test_members_are_owned_by_nobody_in_particular(tmp_path, real_tools):
    built = archive.build(_setup(tmp_path), Secret(b"4f" * 16))
    with tarfile.open(fileobj=io.BytesIO(built.data), mode="r:gz") as tar:
        for member in tar.getmembers():
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
            assert member.isfile() or member.isdir()
