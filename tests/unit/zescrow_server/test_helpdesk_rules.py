"""The helpdesk's rules on one request, without a server: who counts as its requester,
when it expires, and whether its approver is still an admin (the HTTP flow, with
a real server and provider: tests/server/test_helpdesk*.py)."""

import datetime as dt

from zescrow_server import roles
from zescrow_server.helpdesk.models import APPROVED, EXPIRED, PENDING, HelpdeskRequest

NOW = dt.datetime(2026, 12, 3, 12, 0)


def _row(**values):
    values = dict(dict(requester_provider="corp", requester_issuer="https://id.example.org",
                       requester_subject="42", state=PENDING,
                       pending_until=NOW + dt.timedelta(hours=1)), **values)
    return HelpdeskRequest(**values)


def test_the_requester_is_a_subject_of_one_issuer_not_of_a_providers_name():
    row = _row()
    who = {"provider": "corp", "iss": "https://id.example.org", "sub": "42"}
    assert row.asked_by(who)
    # The setting "corp" later names another issuer: its subject 42 is someone else.
    assert not row.asked_by(dict(who, iss="https://other.example.org"))
    assert not row.asked_by(dict(who, sub="43"))
    # A request from before the issuer was kept: provider and subject, as then.
    assert _row(requester_issuer=None).asked_by(dict(who, iss="https://other.example.org"))


def test_a_pending_request_expires_at_its_own_time_and_an_approval_at_its():
    assert _row().current_state(NOW) == PENDING
    assert _row().current_state(NOW + dt.timedelta(hours=1)) == EXPIRED
    assert _row(pending_until=None).current_state(NOW + dt.timedelta(days=999)) == PENDING
    approved = _row(state=APPROVED, approved_until=NOW + dt.timedelta(hours=24))
    assert approved.current_state(NOW + dt.timedelta(hours=2)) == APPROVED  # decided in time
    assert approved.current_state(NOW + dt.timedelta(hours=24)) == EXPIRED


def test_the_admins_entry_an_approver_matched_and_whether_it_is_still_there():
    admins = ["Ana@Example.org", "group:security"]
    ana = {"email": "ana@example.org", "email_verified": True, "groups": ["security"]}
    assert roles.matching(admins, ana) == "Ana@Example.org"
    assert roles.matching(admins, dict(ana, email_verified=False)) == "group:security"
    assert roles.matching(admins, {"email": "bob@example.org", "email_verified": True}) is None
    assert roles.listed(["ana@example.org"], "Ana@Example.org")
    assert not roles.listed(["group:ana@example.org"], "ana@example.org")
    assert roles.listed(admins, "group:security")
    assert not roles.listed(["group:Security"], "group:security")


def test_one_issuer_under_two_provider_entries_is_one_person():
    row = _row()
    who = {"provider": "corp-cli", "iss": "https://id.example.org", "sub": "42"}
    assert row.asked_by(who)  # another client of the same issuer: the same person


def test_the_shown_name_keeps_who_they_are_whatever_the_name():
    from zescrow_server.auth.identity import MAX_TEXT, _display

    spoof = "ana@example.org (corp:1234)" + " " * 300
    shown = _display(spoof, None, "mallory", "corp")
    assert shown.endswith("(corp:mallory)") and len(shown) <= MAX_TEXT
    assert _display("x" * 400, None, "mallory", "corp").endswith("… (corp:mallory)")
    # A verified address is shown only in ASCII: a Cyrillic а is someone else.
    assert _display("Ana", "ana@ex\u0430mple.org", "7", "corp") == "Ana (corp:7)"
    assert _display("Ana", "ana@example.org", "7", "corp") == "ana@example.org"
    assert _display(None, None, "7", "corp") == "corp:7"


def test_a_use_of_an_approval_cancelled_meanwhile_hands_out_nothing(tmp_path):
    """usable() read the row approved; an admin cancels before the download is recorded:
    the conditional UPDATE refuses, the escrow stays unexposed (a real SQLite file)."""
    import pytest
    from sqlalchemy import update

    from zescrow_server import db
    from zescrow_server.escrows.models import Escrow
    from zescrow_server.helpdesk import service

    engine = db.make_engine("sqlite:///%s" % (tmp_path / "z.db"))
    db.Base.metadata.create_all(engine)
    sessions = db.make_sessionmaker(engine)
    now = dt.datetime.utcnow()
    with sessions() as session:
        session.add(Escrow(id="e" * 32, created_at=now, sealed=b"x", sha256="", size=1,
                           host="h", username="u", client_version="", upload_token_hash="",
                           claim_expires_at=now, verification="verified", claimed_at=now))
        session.add(_row(id="a" * 16, escrow_id="e" * 32, created_at=now, reason="r",
                         requester_display="hd", state=APPROVED, decider_display="ap",
                         approved_until=now + dt.timedelta(hours=1)))
        session.commit()
        row = session.get(HelpdeskRequest, "a" * 16)
        who = {"provider": "corp", "iss": "https://id.example.org", "sub": "42",
               "display": "hd"}
        with sessions() as other:  # the admin's cancel, in between
            other.execute(update(HelpdeskRequest).values(state="cancelled"))
            other.commit()
        with pytest.raises(service.NotApproved, match="is cancelled now"):
            service.downloaded(session, row, session.get(Escrow, "e" * 32), who, "")
    with sessions() as session:
        assert session.get(Escrow, "e" * 32).exposed_at is None
        assert session.get(HelpdeskRequest, "a" * 16).used_at is None


def test_an_auth_time_that_is_no_time_vouches_for_nothing():
    from zescrow_server.auth.identity import _auth_time

    for value in (float("nan"), float("inf"), float("-inf"), True, "1700000000", None):
        assert _auth_time({"auth_time": value}) is None, value
    assert _auth_time({"auth_time": 1700000000}) == 1700000000


def test_an_issuer_with_and_without_its_trailing_slash_is_one_issuer():
    # Logins accept both spellings: two entries so spelt must not make one person two.
    row = _row(requester_issuer="https://id.example.org/")
    assert row.asked_by({"provider": "corp2", "iss": "https://id.example.org", "sub": "42"})


def test_two_long_subjects_are_never_shown_alike():
    from zescrow_server.auth.identity import MAX_TEXT, _display

    one, two = _display("N", None, "s" * 254 + "1", "corp"), _display("N", None, "s" * 254 + "2",
                                                                       "corp")
    assert one != two and len(one) <= MAX_TEXT and len(two) <= MAX_TEXT


def test_a_subject_cannot_forge_a_line_or_reorder_one():
    from zescrow_server.auth.identity import _display

    shown = _display("N", None, "sub\r\nFAKE: approved by boss\u202e", "p")
    assert "\n" not in shown and "\r" not in shown and "\u202e" not in shown
    assert shown == "N (p:sub\\r\\nFAKE: approved by boss\\u202e)"
