"""Files that are not what they seem (#10): every file a user names to zescrowctl or
zescrowd is read only if it is a regular file, and only up to a bound.

A device (/dev/zero), a fifo (nobody ever writes to it) or a folder given
as an archive, a Private.sig, a CA file or a configuration is a named
refusal at once, never a read without end or a wait without end.
"""

import os
import subprocess
import sys

import pytest

from pam_zescrow import pipeline
from tests.common.ecryptfs_tools import make_setup
from tests.daemon.conftest import LOGIN, MOUNT, wait_for

CLI = os.path.join(os.path.dirname(sys.executable), "zescrowctl")


def not_regular(tmp_path, kind):
    """A path that is `kind`: a device, a fifo, a folder, or a link to the device."""
    path = tmp_path / ("not-regular-" + kind)
    if kind == "device":
        return "/dev/zero"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "link to a device":
        path.symlink_to("/dev/zero")
    return str(path)


KINDS = ["device", "fifo", "folder", "link to a device"]


def zescrowctl(*args, env=None):
    return subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=20,
                          env=env, stdin=subprocess.DEVNULL)


@pytest.fixture
def archive(tmp_path, real_tools):
    setup = make_setup(tmp_path / "me", MOUNT, LOGIN)
    path = tmp_path / "escrow.tar.gz"
    path.write_bytes(pipeline.prepare(str(setup), LOGIN).archive.data)
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_recover_refuses_an_archive_that_is_not_a_regular_file(tmp_path, kind):
    path = not_regular(tmp_path, kind)
    r = zescrowctl("recover", path)
    assert r.returncode == 44, r
    assert "not a regular file" in r.stderr and "what to do" in r.stderr, r.stderr


def test_recover_refuses_an_archive_over_its_bound(tmp_path):
    path = tmp_path / "huge.tar.gz"
    path.write_bytes(b"\0" * (5 << 20))
    r = zescrowctl("recover", str(path))
    assert r.returncode == 44 and "bytes" in r.stderr and "limit" in r.stderr, r


@pytest.mark.parametrize("kind", ["device", "fifo", "link to a device"])
def test_recover_refuses_a_private_sig_that_is_not_a_regular_file(tmp_path, archive, kind):
    folder = tmp_path / "other"
    folder.mkdir()
    target = not_regular(tmp_path, kind)
    (folder / "Private.sig").symlink_to(target)
    r = zescrowctl("recover", str(archive), "--ecryptfs-dir", str(folder))
    assert r.returncode == 44, r
    assert "Private.sig" in r.stderr and "not a regular file" in r.stderr, r.stderr


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_setup_refuses_a_ca_file_that_is_not_a_regular_file(client, escrow_server, tmp_path,
                                                             kind):
    client.conf.unlink()
    path = not_regular(tmp_path, kind)
    r = subprocess.run([CLI, "setup", escrow_server.url, "--ca-file", path, "--yes"],
                       capture_output=True, text=True, timeout=20, env=client.env)
    assert r.returncode == 71 and "not a regular file" in r.stderr, r
    assert not client.user_conf.exists()


def test_zescrowd_refuses_a_configured_ca_file_that_is_not_a_regular_file(client, tmp_path):
    fifo = not_regular(tmp_path, "fifo")
    text = client.conf.read_text()
    client.conf.write_text(text.replace(text.split("ca_file = ")[1].split("\n")[0], fifo))
    client.spool_archive()
    proc = client.zescrowd("--no-notify")
    try:
        wait_for(lambda: client.state().get("last_error"), timeout=15, what="a refusal")
    finally:
        proc.kill()
        proc.communicate()
    err = client.state()["last_error"]
    assert err["code"] == "tls-failed" and "not a regular file" in err["message"], err
    assert len(client.spooled()) == 1


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_config_that_is_not_a_regular_file_is_a_named_error(client, tmp_path, kind):
    os.unlink(client.user_conf) if client.user_conf.exists() else None
    client.user_conf.symlink_to(not_regular(tmp_path, kind))
    r = subprocess.run([CLI, "status", "--offline"], capture_output=True, text=True, timeout=20,
                       env=client.env)
    assert r.returncode == 15 and "zescrowctl: error:" in r.stderr, r
