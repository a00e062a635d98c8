"""The verification worker: off the request path, decrypt and check each escrow.

Decrypt with the server key, read the archive safely (S7), and check its
unwrapped-passphrase against its Private.sig with the client's own code:
an escrow that would not open the user's data is marked failed with the
reason, which the client and the claim page show.

Every row settles: whatever goes wrong while checking it (gpg, a damaged
archive, a bug of ours) marks it failed with a reason; nothing leaves it
"running" but the death of its process.

Survives restarts: a worker claims a row with a lease; a row left
"running" by a crashed process is taken again once its lease is over, and
"pending" rows are picked up at start. Each take counts as an attempt: a
row whose check killed its worker MAX_ATTEMPTS times is failed, not taken
forever. Several processes may run workers: the claim is one conditional
UPDATE, so each row is verified once.
"""

import datetime as dt
import logging
import threading
import time

from sqlalchemy import or_, select, update

from pam_zescrow import archive_reader, decide, defaults, verify
from pam_zescrow.errors import ZescrowError
from pam_zescrow.secret import Secret

from ..coverage import service as coverage
from ..keys.service import KeyError_, PlaintextTooLarge
from . import service
from .models import FAILED, PENDING, RUNNING, VERIFIED, Escrow, utcnow

log = logging.getLogger("zescrow.server.verify")
LEASE = dt.timedelta(seconds=20)  # a verification takes well under 1 s; gpg gets 10
MAX_ATTEMPTS = 3
GAVE_UP = ("the check never finished in %d attempts (the server process checking it ended "
           "each time); the server's log has the details" % MAX_ATTEMPTS)
PURGE_EVERY = 600.0


def verify_sealed(key, sealed):
    """Return (VERIFIED, key_signature, None, setup digest) or (FAILED, None, reason, None);
    never raises."""
    try:
        return _verify(key, sealed)
    except Exception as err:  # noqa: BLE001 — a row must settle, whatever its bytes do
        log.exception("unexpected error while checking an escrow")
        kind = type(err).__qualname__
        if type(err).__module__ != "builtins":
            kind = "%s.%s" % (type(err).__module__, kind)
        return FAILED, None, ("the server could not check it (an unexpected %s); the "
                              "server's log has the details" % kind), None


def _verify(key, sealed):
    try:
        plain = key.decrypt(sealed)
    except PlaintextTooLarge as err:
        return FAILED, None, str(err), None
    except KeyError_ as err:
        return FAILED, None, "the server cannot decrypt it (%s)" % err, None
    try:
        setup, passphrase = archive_reader.read(plain)
        with Secret(passphrase) as secret:
            verified = verify.verify(setup, secret)
    except ZescrowError as err:
        return FAILED, None, err.text, None
    return VERIFIED, verified.fekek_sig, None, archive_digest(setup, key.fingerprint)


def archive_digest(setup, fingerprint):
    """The digest the PAM hook's decide step gave the setup this archive holds, sealed to
    this server's key: every entry but the passphrase (which stands where
    wrapped-passphrase was, and that one is left out of the digest too). Coverage
    compares a host's report with it, so that a user cannot make a setup that was
    never escrowed look verified by writing the digest into their own marker file."""
    setup.entries = [e for e in setup.entries if e.name != defaults.UNWRAPPED_PASSPHRASE]
    return decide.escrow_digest(setup, decide.target(fingerprint))


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
        result, signature, reason, digest = verify_sealed(self.key, sealed)
        with self.sessions() as session:
            session.execute(update(Escrow).where(Escrow.id == escrow_id).values(
                verification=result, key_signature=signature, verification_error=reason,
                verification_lease_until=None, setup_digest=digest))
            coverage.escrow_changed(session, escrow_id)
            session.commit()
        log.info("escrow %s: %s%s", escrow_id, result, (": " + reason) if reason else "")
        return True

    def claim_one(self):
        now = utcnow()
        pending = Escrow.verification == PENDING
        lapsed = (Escrow.verification == RUNNING) & (Escrow.verification_lease_until < now)
        stale = lapsed & (Escrow.verification_attempts < MAX_ATTEMPTS)
        with self.sessions() as session:
            # Two plain queries, not one with OR: each one uses the
            # (verification, created_at) index, on SQLite and PostgreSQL.
            candidates = session.execute(select(Escrow.id).where(pending)
                                         .order_by(Escrow.created_at).limit(8)).scalars().all()
            if not candidates:
                rows = session.execute(select(Escrow.id, Escrow.verification_attempts)
                                       .where(lapsed).limit(8)).all()
                candidates = [escrow_id for escrow_id, tries in rows if tries < MAX_ATTEMPTS]
                if len(candidates) < len(rows):
                    give_up(session, lapsed & (Escrow.verification_attempts >= MAX_ATTEMPTS))
            for escrow_id in candidates:
                taken = session.execute(update(Escrow).where(Escrow.id == escrow_id,
                                                             or_(pending, stale))
                                        .values(verification=RUNNING,
                                                verification_lease_until=now + LEASE,
                                                verification_attempts=Escrow
                                                .verification_attempts + 1))
                session.commit()
                if taken.rowcount == 1:
                    return escrow_id, session.get(Escrow, escrow_id).sealed
        return None, None


def give_up(session, doomed):
    """Fail the rows whose lease ran out MAX_ATTEMPTS times: their check kills its worker."""
    ids = list(session.scalars(select(Escrow.id).where(doomed)))
    given_up = session.execute(update(Escrow).where(Escrow.id.in_(ids), doomed).values(
        verification=FAILED, verification_error=GAVE_UP, verification_lease_until=None))
    for escrow_id in ids:
        coverage.escrow_changed(session, escrow_id)
    session.commit()
    log.error("%d escrows failed: their check never finished in %d attempts",
              given_up.rowcount, MAX_ATTEMPTS)


def purge(sessions):
    with sessions() as session:
        return service.purge_expired(session, actor="server")
