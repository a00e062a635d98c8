"""Sealing with the real gpg: decrypts with the server's key, refuses any other."""

import io
import os
import subprocess
import tarfile

import pytest

from pam_zescrow import seal
from pam_zescrow.errors import ServerKeyMismatch, ServerKeyMissing


def _gpg_daemons_for(home):
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if home in line and "gpg" in line]


def _archive():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(".ecryptfs/unwrapped-passphrase")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"abc\n"))
    return buf.getvalue()


def test_sealed_archive_decrypts_with_the_server_key(server_key, tmp_path):
    archive = _archive()
    sealed = seal.seal(archive, server_key.public_path, server_key.fingerprint,
                       home_parent=str(tmp_path))
    assert archive not in sealed
    assert server_key.decrypt(sealed) == archive
    assert os.listdir(tmp_path) == []  # the throwaway home is gone


def test_fingerprint_spacing_and_case_do_not_matter(server_key, tmp_path):
    spaced = " ".join(server_key.fingerprint[i:i + 4] for i in range(0, 40, 4)).lower()
    sealed = seal.seal(b"x", server_key.public_path, spaced, home_parent=str(tmp_path))
    assert server_key.decrypt(sealed) == b"x"


def test_a_key_that_is_not_the_pinned_one_is_refused(server_key, other_key, tmp_path):
    with pytest.raises(ServerKeyMismatch) as err:
        seal.seal(b"x", other_key.public_path, server_key.fingerprint,
                  home_parent=str(tmp_path))
    assert other_key.fingerprint in err.value.text
    assert server_key.fingerprint in err.value.text
    assert os.listdir(tmp_path) == []  # removed on error too


def test_missing_or_garbage_key_file(server_key, tmp_path):
    with pytest.raises(ServerKeyMissing, match="No such file"):
        seal.seal(b"x", str(tmp_path / "absent.asc"), server_key.fingerprint)
    garbage = tmp_path / "garbage.asc"
    garbage.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\nnonsense\n")
    with pytest.raises(ServerKeyMissing, match="no OpenPGP public key"):
        seal.seal(b"x", str(garbage), server_key.fingerprint, home_parent=str(tmp_path))


def test_no_gpg_agent_or_dirmngr_is_left_running(server_key, tmp_path):
    homes = []
    real_home = seal.gnupg_home

    def spy(parent):
        cm = real_home(parent)
        return _Recorder(cm, homes)

    seal.gnupg_home, saved = spy, seal.gnupg_home
    try:
        seal.seal(b"x", server_key.public_path, server_key.fingerprint)
    finally:
        seal.gnupg_home = saved
    assert homes and homes[0].startswith("/dev/shm/")
    assert not os.path.exists(homes[0])
    assert _gpg_daemons_for(homes[0]) == []


class _Recorder:
    def __init__(self, cm, homes):
        self.cm, self.homes = cm, homes

    def __enter__(self):
        home = self.cm.__enter__()
        self.homes.append(home)
        return home

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)
