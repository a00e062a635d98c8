"""Reading ~/.ecryptfs: one link followed, nothing unsafe or oversized accepted."""

import os
import socket

import pytest

from pam_zescrow import defaults, ecryptfs_dir
from pam_zescrow.errors import (BadEcryptfsrc, EcryptfsTooLarge, NoEcryptfsSetup,
                                UnsafeEcryptfsEntry)


@pytest.fixture
def store(tmp_path):
    real = tmp_path / "store" / ".ecryptfs"
    real.mkdir(parents=True)
    (real / "wrapped-passphrase").write_bytes(b"x" * 58)
    (real / "Private.sig").write_text("0011223344556677\n")
    link = tmp_path / ".ecryptfs"
    os.symlink(real, link)
    return link, real


def test_follows_the_top_link_and_reads_files_sorted(store):
    link, real = store
    setup = ecryptfs_dir.read(str(link))
    assert setup.real_path == str(real)
    assert [e.name for e in setup.entries] == ["Private.sig", "wrapped-passphrase"]


def test_a_link_to_a_link_is_refused(store, tmp_path):
    link, _ = store
    os.symlink(link, tmp_path / "second")
    with pytest.raises(UnsafeEcryptfsEntry, match="one link only"):
        ecryptfs_dir.read(str(tmp_path / "second"))


def test_missing_folder_or_wrapped_passphrase_is_no_setup(store, tmp_path):
    with pytest.raises(NoEcryptfsSetup):
        ecryptfs_dir.read(str(tmp_path / "nothing"))
    _, real = store
    (real / "wrapped-passphrase").unlink()
    with pytest.raises(NoEcryptfsSetup, match="wrapped-passphrase"):
        ecryptfs_dir.read(str(real))


def test_a_link_pointing_outside_is_refused(store, tmp_path):
    _, real = store
    (tmp_path / "secret").write_text("not yours")
    os.symlink(tmp_path / "secret", real / "stray")
    with pytest.raises(UnsafeEcryptfsEntry, match="points outside"):
        ecryptfs_dir.read(str(real))


def test_a_link_inside_is_read_as_its_file(store):
    _, real = store
    os.symlink("Private.sig", real / "sig-again")
    setup = ecryptfs_dir.read(str(real))
    assert setup.get("sig-again").data == b"0011223344556677\n"


def test_sockets_and_fifos_are_refused(store):
    _, real = store
    os.mkfifo(real / "fifo")
    with pytest.raises(UnsafeEcryptfsEntry, match="fifo"):
        ecryptfs_dir.read(str(real))
    os.unlink(real / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(real / "sock"))
    try:
        with pytest.raises(UnsafeEcryptfsEntry, match="socket"):
            ecryptfs_dir.read(str(real))
    finally:
        sock.close()


@pytest.mark.root
def test_device_files_are_refused(store):
    if os.geteuid() != 0:
        pytest.skip("making a device file needs root")
    _, real = store
    os.mknod(real / "null", 0o600 | 0o020000, os.makedev(1, 3))
    with pytest.raises(UnsafeEcryptfsEntry, match="character device"):
        ecryptfs_dir.read(str(real))


def test_oversized_files_and_too_many_entries_are_refused(store):
    _, real = store
    (real / "big").write_bytes(b"b" * (defaults.MAX_ECRYPTFS_FILE_BYTES + 1))
    with pytest.raises(EcryptfsTooLarge, match="big"):
        ecryptfs_dir.read(str(real))
    (real / "big").unlink()
    for i in range(defaults.MAX_ECRYPTFS_ENTRIES):
        (real / ("f%03d" % i)).write_text("")
    with pytest.raises(EcryptfsTooLarge, match="entries"):
        ecryptfs_dir.read(str(real))


def test_setup_digest_ignores_wrapped_passphrase_only(store):
    _, real = store
    before = ecryptfs_dir.read(str(real)).setup_digest()
    (real / "wrapped-passphrase").write_bytes(b"y" * 58)  # a rewrap: same key
    assert ecryptfs_dir.read(str(real)).setup_digest() == before
    (real / "Private.sig").write_text("8899aabbccddeeff\n")  # a new key
    assert ecryptfs_dir.read(str(real)).setup_digest() != before


def test_ecryptfsrc_salt(tmp_path):
    rc = tmp_path / ".ecryptfsrc"
    assert ecryptfs_dir.read_v1_salt(str(rc)) == bytes.fromhex("0011223344556677")
    rc.write_text("key=passphrase\nsalt=0f1e2d3c4b5a6978\n")
    assert ecryptfs_dir.read_v1_salt(str(rc)) == bytes.fromhex("0f1e2d3c4b5a6978")
    rc.write_text("salt=0f1e\n")
    with pytest.raises(BadEcryptfsrc, match="not 8"):
        ecryptfs_dir.read_v1_salt(str(rc))
    rc.write_text("salt=nothex!nothex!\n")
    with pytest.raises(BadEcryptfsrc, match="hexadecimal"):
        ecryptfs_dir.read_v1_salt(str(rc))
