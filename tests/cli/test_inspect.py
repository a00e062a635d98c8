"""zescrowctl inspect: what it shows, and one clear error per failure, by exit code."""

import json
import os
import pty
import shutil
import tempfile

import pytest

from tests.cli.conftest import LOGIN, MOUNT, zescrowctl, zescrowctl_argv
from tests.conftest import require


def test_shows_what_would_be_escrowed(setup_dir):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), password=LOGIN)
    assert r.rc == 0, r.err
    assert "verified against Private.sig" in r.out
    assert ".ecryptfs/unwrapped-passphrase" in r.out and "replaces wrapped-passphrase" in r.out
    for name in ("Private.sig", "Private.mnt", "auto-mount", "auto-umount"):
        assert ".ecryptfs/" + name in r.out
    assert "0600" in r.out and "-> " in r.out  # the link is shown with its target


def test_json_format_is_stable(setup_dir):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), "--format", "json",
                   password=LOGIN)
    report = json.loads(r.out)
    assert report["verified"] is True and len(report["key_signature"]) == 16
    assert report["not_escrowed"] == ["wrapped-passphrase"]
    names = [m["name"] for m in report["members"]]
    assert ".ecryptfs/unwrapped-passphrase" in names
    assert ".ecryptfs/wrapped-passphrase" not in names


def test_a_trailing_newline_on_the_fd_is_not_part_of_the_password(setup_dir):
    assert zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir),
                      password=LOGIN + b"\n").rc == 0


def _expect(r, code, exit_code, *words):
    assert r.rc == exit_code, (r.rc, r.err)
    assert r.err.startswith("zescrowctl: error: ") and "what to do:" in r.err
    for word in words:
        assert word in r.err, r.err
    assert "Traceback" not in r.err


def test_no_ecryptfs_setup(tmp_path):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(tmp_path / "none"), password=b"x")
    _expect(r, "no-ecryptfs-setup", 3, "no eCryptfs setup", "ecryptfs-setup-private")


def test_wrong_password(setup_dir):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), password=b"not it")
    _expect(r, "wrong-password", 4, "does not unwrap")


def test_password_too_long(setup_dir):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), password=b"p" * 65)
    _expect(r, "password-too-long", 5, "65 bytes", "at most 64")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_or_truncated_wrapped_passphrase(setup_dir, damage):
    path = setup_dir / "wrapped-passphrase"
    data = path.read_bytes()
    path.write_bytes(data[:40] if damage == "truncate" else b"\x3a\x09" + data[2:])
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), password=LOGIN)
    _expect(r, "corrupt-wrapped-passphrase", 6, "not a valid eCryptfs wrapped-passphrase")


def test_passphrase_not_matching_private_sig(setup_dir):
    (setup_dir / "Private.sig").write_text("0011223344556677\n")
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), password=LOGIN)
    _expect(r, "signature-mismatch", 7, "0011223344556677", "useless backup")


def test_missing_private_sig(setup_dir):
    (setup_dir / "Private.sig").unlink()
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), password=LOGIN)
    _expect(r, "missing-private-sig", 8, "Private.sig")


@pytest.mark.root
def test_unreadable_files(tmp_path, real_tools):
    require(os.geteuid() == 0, "reading as another user needs root")
    from tests.common.ecryptfs_tools import make_setup

    base = tempfile.mkdtemp(prefix="zescrow-unreadable-")
    try:
        os.chmod(base, 0o755)
        from pathlib import Path
        setup = make_setup(Path(base), MOUNT, LOGIN, link=False)
        for path in (setup.parent, setup.parent.parent):
            os.chmod(path, 0o755)
        os.chmod(setup, 0o755)
        os.chmod(setup / "wrapped-passphrase", 0o600)  # root's, not nobody's
        r = zescrowctl("inspect", "--ecryptfs-dir", str(setup), password=LOGIN, user=65534)
        _expect(r, "unreadable-file", 9, "cannot read", "wrapped-passphrase",
                "Permission denied")
    finally:
        shutil.rmtree(base)


def test_empty_password(setup_dir):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), password=b"")
    _expect(r, "no-password", 13, "no password was given")


def test_without_a_terminal_it_says_how_to_give_the_password(setup_dir):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir))
    _expect(r, "no-password", 13, "--password-fd")


def test_json_errors(setup_dir):
    r = zescrowctl("inspect", "--ecryptfs-dir", str(setup_dir), "--format", "json",
                   password=b"not it")
    assert r.rc == 4 and json.loads(r.out)["error"] == "wrong-password"


def test_asks_on_the_terminal_without_echo(setup_dir):
    pid, fd = pty.fork()
    if pid == 0:
        argv = zescrowctl_argv() + ["inspect", "--ecryptfs-dir", str(setup_dir)]
        os.execv(argv[0], argv)
    screen = _read_until(fd, b"LOGIN password")
    os.write(fd, LOGIN + b"\n")
    screen += _read_until(fd, None)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert LOGIN not in screen and MOUNT not in screen
    assert b"verified against Private.sig" in screen


def _read_until(fd, marker):
    data = b""
    while marker is None or marker not in data:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        data += chunk
    return data
