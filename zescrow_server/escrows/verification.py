"""The verification worker: off the request path, decrypt and check each escrow.

Decrypt with the server key, read the archive safely (S7), and check its
unwrapped-passphrase against its Private.sig with the client's own code:
an escrow that would not open the user's data is marked failed with the
reason, which the client and the claim page show.

Survives restarts: a worker claims a row with a lease; a row left
"running" by a crashed process is taken again once its lease is over, and
"pending" rows are picked up at start. Several processes may run workers:
the claim is one conditional UPDATE, so each row is verified once.
"""

import datetime as dt
import logging
import threading
import time

from sqlalchemy import or_, select, update

from pam_zescrow import archive_reader, verify
from pam_zescrow.errors import ZescrowError
from pam_zescrow.secret import Secret

from ..keys.service import KeyError_
from . import service
from .models import FAILED, PENDING, RUNNING, VERIFIED, Escrow, utcnow

log = logging.getLogger("zescrow.server.verify")
LEASE = dt.timedelta(seconds=20)  # a verification takes well under 1 s
PURGE_EVERY = 600.0


def verify_sealed(key, sealed):
    """Return (VERIFIED, key_signature, None) or (FAILED, None, reason)."""
    try:
        plain = key.decrypt(sealed)
    except KeyError_ as err:
        return FAILED, None, "the server cannot decrypt it (%s)" % err
    try:
        setup, passphrase = archive_reader.read(plain)
        with Secret(passphrase) as secret:
            verified = verify.verify(setup, secret)
    except ZescrowError as err:
        return FAILED, None, err.text
    return VERIFIED, verified.fekek_sig, None


class Verifier:
    def __init__(self, sessions, key, wakeup, threads=1):
        self.sessions, self.key, self.wakeup = sessions, key, wakeup
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, name="zescrow-verify-%d" % i,
                                         daemon=True) for i in range(threads)]
        self.last_purge = 0.0

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        self.wakeup.set()

    def run(self):
        while not self.stopping.is_set():
            try:
                if time.monotonic() - self.last_purge > PURGE_EVERY:
                    self.last_purge = time.monotonic()
                    purge(self.sessions)
                if not self.verify_next():
                    self.wakeup.wait(1.0)
                    self.wakeup.clear()
            except Exception:  # a worker must outlive one bad row or a database hiccup
                log.exception("verification worker error")
                self.stopping.wait(1.0)

    def verify_next(self):
        escrow_id, sealed = self.claim_one()
        if escrow_id is None:
            return False
        result, signature, reason = verify_sealed(self.key, sealed)
        with self.sessions() as session:
            session.execute(update(Escrow).where(Escrow.id == escrow_id).values(
                verification=result, key_signature=signature, verification_error=reason,
                verification_lease_until=None))
            session.commit()
        log.info("escrow %s: %s%s", escrow_id, result, (": " + reason) if reason else "")
        return True

    def claim_one(self):
        now = utcnow()
        pending = Escrow.verification == PENDING
        stale = (Escrow.verification == RUNNING) & (Escrow.verification_lease_until < now)
        with self.sessions() as session:
            # Two plain queries, not one with OR: each one uses the
            # (verification, created_at) index, on SQLite and PostgreSQL.
            candidates = session.execute(select(Escrow.id).where(pending)
                                         .order_by(Escrow.created_at).limit(8)).scalars().all()
            if not candidates:
                candidates = session.execute(select(Escrow.id).where(stale)
                                             .limit(8)).scalars().all()
            for escrow_id in candidates:
                taken = session.execute(update(Escrow).where(Escrow.id == escrow_id,
                                                             or_(pending, stale))
                                        .values(verification=RUNNING,
                                                verification_lease_until=now + LEASE))
                session.commit()
                if taken.rowcount == 1:
                    return escrow_id, session.get(Escrow, escrow_id).sealed
        return None, None


def purge(sessions):
    with sessions() as session:
        return service.purge_expired(session, actor="server")
