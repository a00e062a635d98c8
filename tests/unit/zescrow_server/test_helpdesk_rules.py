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
