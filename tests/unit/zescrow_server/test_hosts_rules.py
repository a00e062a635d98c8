"""A voucher's checks in their order, on a real SQLite file (the HTTP flow, with real
servers and machines: tests/server/test_coverage.py, tests/daemon/test_coverage.py)."""

import base64
import datetime as dt

import pytest


def test_a_revoked_hosts_name_is_told_only_to_a_voucher_it_signed(tmp_path):
    from zescrow_core import hostkey
    from zescrow_server import db
    from zescrow_server.hosts import service
    from zescrow_server.hosts.models import Host

    engine = db.make_engine("sqlite:///%s" % (tmp_path / "z.db"))
    db.Base.metadata.create_all(engine)
    key = str(tmp_path / "host.key")
    public = hostkey.generate(key)
    with db.make_sessionmaker(engine)() as session:
        session.add(Host(id="ab" * 8, name="payroll-laptop", public_key=public, token_id="t",
                         revoked_at=dt.datetime(2026, 12, 1)))
        session.commit()
        statement, signature = hostkey.voucher(key, "ab" * 8, "anna")
        voucher = base64.b64encode(statement).decode()
        forged = base64.b64encode(b"\x30" * 70).decode()
        with pytest.raises(service.NotEnrolled) as unsigned:
            service.check_voucher(session, voucher, forged, "anna")
        assert "payroll-laptop" not in unsigned.value.message
        assert "signature" in unsigned.value.message
        with pytest.raises(service.NotEnrolled) as signed:
            service.check_voucher(session, voucher, signature, "anna")
        assert "payroll-laptop" in signed.value.message and "revoked" in signed.value.message
