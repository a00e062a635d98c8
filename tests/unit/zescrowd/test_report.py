"""The coverage report's client side against a user's own files (an adversarial
review's findings): a state.json that is not what zescrowd writes never stops the
report, and the server's answer cannot make root tell one user of another's escrow.
Run as the current user, whose privileges as_user keeps (no root needed)."""

import json
import os
import types

import pytest

from zescrowd import report

STATES = ['{"version": 1, "escrowed": [1]}', '{"version": 1, "last_error": "x"}',
          '{"version": 1, "last_error": {"code": "ab", "at": 5}}', "[" * 60000]


@pytest.fixture
def user(tmp_path):
    home = tmp_path / "home"
    (home / ".ecryptfs").mkdir(parents=True)
    (home / ".ecryptfs" / "wrapped-passphrase").write_bytes(b"x" * 48)
    (home / ".ecryptfs" / "Private.sig").write_bytes(b"a" * 16 + b"\n")
    (tmp_path / "state").mkdir()
    uid, gid = os.getuid(), os.getgid()
    return types.SimpleNamespace(name="u", uid=uid, gid=gid, home=str(home), groups=[gid],
                                 dir=tmp_path / "state")


@pytest.mark.parametrize("doc", STATES)
def test_a_state_file_of_the_users_own_making_is_read_as_nothing(user, doc):
    (user.dir / "state.json").write_text(doc)
    entry = report._entry(user, "server:X", str(user.dir))
    assert entry["user"] == "u" and len(entry["digest"]) == 64
    assert entry["escrow"] is None and entry["escrowed_digest"] is None


def test_one_users_unreadable_files_do_not_silence_the_others(user, monkeypatch):
    calls = []

    def entry(u, sealed_to, user_dir):
        calls.append(u.name)
        if u.name == "bad":
            raise RecursionError("made by the user")
        return {"user": u.name, "digest": "d" * 64, "escrowed_digest": None, "escrow": None,
                "error": None, "error_at": None}

    people = [types.SimpleNamespace(name=n) for n in ("bad", "good")]
    monkeypatch.setattr(report, "_candidates", lambda enrolment, root: iter(people))
    monkeypatch.setattr(report, "_entry", entry)
    enrolment = types.SimpleNamespace(fingerprint="AB" * 20, custodians_mode=lambda: None)
    entries = {e["user"]: e for e in report.gather(enrolment, "/nonexistent")}
    assert calls == ["bad", "good"]
    assert entries["bad"]["error"] == "report-unreadable" and entries["good"]["error"] is None


def test_an_exposure_is_recorded_only_for_the_user_and_escrow_the_report_named(user,
                                                                              monkeypatch):
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    root = user.dir.parent / "root"
    (root / me).mkdir(parents=True)
    state_file = root / me / "state.json"
    state_file.write_text(json.dumps({"version": 1, "escrowed": {"id": "e" * 32}}))
    sent = [{"user": me, "escrow": "e" * 32, "escrowed_digest": "d" * 64}]
    hostile = [{"user": me, "escrow": "f" * 32, "at": "2026-12-03T09:00:00Z", "reason": "x"},
               {"user": "root\x00", "escrow": "e" * 32, "at": "2026-12-03T09:00:00Z",
                "reason": "x"}]
    assert report.record_exposed(hostile, str(root), sent, min_uid=0) == []
    assert "exposed" not in json.loads(state_file.read_text())
    honest = [{"user": me, "escrow": "e" * 32, "at": "2026-12-03T09:00:00Z", "reason": "x"}]
    assert report.record_exposed(honest, str(root), sent, min_uid=0) == [me]
    assert json.loads(state_file.read_text())["exposed"]["escrow"] == "e" * 32
    # A newer escrow since: the old one's exposure is not the user's concern any more.
    state_file.write_text(json.dumps({"version": 1, "escrowed": {"id": "9" * 32}}))
    report.record_exposed(honest, str(root), sent, min_uid=0)
    assert "exposed" not in json.loads(state_file.read_text())
