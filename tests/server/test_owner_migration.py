"""Owners claimed before owners had a provider keep their escrows (migration 0003).

A database at revision 0002, with escrows claimed then — owner (issuer,
subject) — is upgraded by the real `zescrow-server init`; the owner then
signs in through the real provider configured with that issuer and sees
theirs, and an owner whose issuer no provider has sees nothing.
"""

import datetime as dt
import hashlib
import os
import uuid

import pytest
from sqlalchemy import text

from tests.common.servers import ZescrowServer
from tests.server.conftest import PORTS
from tests.server.login import signed_in


def _at_0002(url):
    from alembic import command
    from alembic.config import Config

    import zescrow_server

    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(
        zescrow_server.__file__), "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0002")


def _claimed_row(conn, issuer, subject, body):
    now = dt.datetime.utcnow().replace(microsecond=0)
    row = dict(id=uuid.uuid4().hex, created_at=now, sealed=body,
               sha256=hashlib.sha256(body).hexdigest(), size=len(body), host="oldbox",
               username=subject, client_version="", upload_token_hash="0" * 64,
               claim_expires_at=now, claimed_at=now, owner_issuer=issuer, owner_subject=subject,
               owner_display=subject + "@example.test", owner_email=subject + "@example.test",
               verification="verified")
    conn.execute(text("INSERT INTO escrows (%s) VALUES (%s)" % (
        ", ".join(row), ", ".join(":" + k for k in row))), row)
    return row


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_owners_from_before_get_the_provider_configured_with_their_issuer(
        backend, request, key_home, tls_dir, oidc, tmp_path):
    from zescrow_server import db

    if backend == "postgresql":
        url = request.getfixturevalue("postgres").create_database("zescrow_owner_migration")
    else:
        url = "sqlite:///%s" % (tmp_path / "old.db")
    _at_0002(url)
    engine = db.make_engine(url)
    with engine.begin() as conn:
        olga = _claimed_row(conn, oidc.issuer, "olga-mig", b"olga's escrow")
        gone = _claimed_row(conn, "https://gone.example.test", "olga-mig", b"another's")
    server = ZescrowServer(PORTS[14 + (backend == "postgresql")], key_home, tls_dir,
                           database_url=url, oidc=oidc, workers=1)
    try:
        home = signed_in(server, "test", "olga-mig").get(server.url + "/").text
        assert olga["sha256"][:16] in home and gone["sha256"][:16] not in home
    finally:
        server.close()
    with engine.connect() as conn:
        owners = dict(conn.execute(text("SELECT id, owner_provider FROM escrows")).all())
    engine.dispose()
    assert owners == {olga["id"]: "test", gone["id"]: None}
