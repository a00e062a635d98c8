"""The spool: whole pairs, atomically, privately."""

import hashlib
import json
import os
import stat

import pytest

from pam_zescrow import spool
from pam_zescrow.errors import SpoolUnwritable
from pam_zescrow.fsutil import atomic_write
from pam_zescrow.verify import Verified


def _meta(sealed):
    return spool.metadata("alice", sealed, Verified("0011223344556677", "8899aabbccddeeff"),
                          "d" * 64, host="box")


def test_put_writes_a_private_pair_with_metadata(tmp_path):
    sealed = b"\x85sealed bytes"
    entry = spool.put(str(tmp_path / "spool"), sealed, _meta(sealed))
    assert open(entry.sealed_path, "rb").read() == sealed
    meta = json.loads(open(entry.meta_path).read())
    assert meta["sha256"] == hashlib.sha256(sealed).hexdigest()
    assert meta["user"] == "alice" and meta["host"] == "box"
    assert meta["key_signature"] == "0011223344556677"
    assert meta["archive"] == os.path.basename(entry.sealed_path)
    assert {"created", "client_version", "setup_digest", "size"} <= set(meta)
    for path in (entry.sealed_path, entry.meta_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "spool").st_mode) == 0o700
    assert [e.name for e in spool.pending(str(tmp_path / "spool"))] == [entry.name]


def test_pending_ignores_half_written_and_temporary_files(tmp_path):
    (tmp_path / "x.gpg").write_bytes(b"archive without its metadata yet")
    (tmp_path / ".y.json.1234.tmp").write_bytes(b"{")
    assert spool.pending(str(tmp_path)) == []


def test_atomic_write_leaves_no_temporary_file_and_keeps_the_old_on_failure(tmp_path):
    target = tmp_path / "f"
    atomic_write(str(target), b"one")

    with pytest.raises(TypeError):
        atomic_write(str(target), object())
    assert target.read_bytes() == b"one"
    assert os.listdir(tmp_path) == ["f"]


def test_unwritable_spool_says_where_and_why(tmp_path):
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(SpoolUnwritable) as err:
        spool.put(str(blocker), b"s", _meta(b"s"))
    assert str(blocker) in err.value.text and err.value.exit_code == 30
