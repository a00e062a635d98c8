"""Coverage reports (issue #13): which local users this enrolled machine covers.

`zescrowctl report`, run as root by the daily zescrow-report.timer, lists
every local user with an eCryptfs setup and, for each, what the server
needs to judge coverage — no secret:

    digest           the setup's escrow digest now (decide.escrow_digest: every
                     file of ~/.ecryptfs but wrapped-passphrase, and what it is
                     sealed to), or null if it could not be read
    escrowed_digest  the digest of the last escrow the server took (the marker
                     zescrowd writes after a 201), or null
    escrow           that escrow's id, or null
    error, error_at  the last failed attempt (state.json), or null

The report is signed with the host key (root's only) and sent to
POST /api/v1/hosts/{host}/reports. The server answers with its judgement of
each user and the escrows of this machine's users that its helpdesk has
recovered: each is recorded in that user's state.json, where zescrowctl
status and zescrowd's notification tell the user (record_exposed()).

Every user-controlled file is read with that user's ids and refused if it
is not a regular file (as the PAM hook does), so that a user cannot make
root's report read, or hang on, anything else.
"""

import datetime as dt
import json
import logging
import os
import pwd
import re
from urllib.parse import urlsplit

from pam_zescrow import decide, defaults, ecryptfs_dir, privileges, state
from pam_zescrow.errors import ZescrowError
from pam_zescrow.fsutil import open_regular
from pam_zescrow.printable import printable

from . import http
from .errors import (ReportNotEnrolled, ReportRefused, ServerAnswerInvalid, ServerTooSlow,
                     ServerUnreachable, TlsFailed)

log = logging.getLogger("zescrow.report")
FORMAT, VERSION = "zescrow-report", 1
TIMEOUT = (10, 30)
MAX_ANSWER = 1024 * 1024
MAX_STATE = defaults.MAX_ECRYPTFS_FILE_BYTES
STATES = ("verified", "pending", "stale", "failed", "missing")


def gather(enrolment, state_root=defaults.STATE_ROOT):
    """One entry per local user (uid >= min_uid) with an eCryptfs setup, by name."""
    sealed_to = decide.target(enrolment.fingerprint, enrolment.custodians_mode())
    entries = []
    for user in _candidates(enrolment, state_root):
        try:
            entry = _entry(user, sealed_to, os.path.join(state_root, user.name))
        except Exception:  # noqa: BLE001 — one user's files must not silence the others
            log.exception("user %s: could not be read for the report", user.name)
            entry = {"user": user.name, "digest": None, "escrowed_digest": None,
                     "escrow": None, "error": "report-unreadable", "error_at": _now()}
        if entry is not None:
            entries.append(entry)
    return entries


def _candidates(enrolment, state_root):
    """The passwd users at or above min_uid, and those with a state folder (a directory
    user who logged in here has one, though getpwall may not list them)."""
    names = {e.pw_name for e in pwd.getpwall() if e.pw_uid >= enrolment.min_uid}
    try:
        names |= set(os.listdir(state_root))
    except FileNotFoundError:
        pass
    for name in sorted(names):
        try:
            user = privileges.User(pwd.getpwnam(name))
        except KeyError:
            continue  # a state folder of a user who is gone
        if user.uid >= enrolment.min_uid:
            yield user


def _entry(user, sealed_to, user_dir):
    ecryptfs_path = os.path.join(user.home, defaults.ECRYPTFS_DIRNAME)
    with privileges.as_user(user):
        if not os.path.lexists(ecryptfs_path):
            return None
        entry = {"user": user.name, "digest": None, "escrowed_digest": None, "escrow": None,
                 "error": None, "error_at": None}
        try:
            setup = ecryptfs_dir.read(ecryptfs_path, os.path.join(user.home, defaults.ECRYPTFSRC),
                                      trusted_uids={0, user.uid})
            entry["digest"] = decide.escrow_digest(setup, sealed_to)
        except ZescrowError as err:
            entry["error"], entry["error_at"] = err.code, _now()
            return entry
        except OSError:  # an unreadable home: reported as such, not a crash of the timer
            entry["error"], entry["error_at"] = "setup-unreadable", _now()
            return entry
        entry["escrowed_digest"] = _marker(os.path.join(user_dir, defaults.ESCROWED_MARKER))
        current = _state(state.path_in(user_dir))
    escrowed = _record(current, "escrowed")
    if _is(escrowed.get("id"), r"[0-9a-f]{32}"):
        entry["escrow"] = escrowed["id"]
    error = _record(current, "last_error")
    if _is(error.get("code"), r"[a-z0-9-]{1,64}"):
        entry["error"] = error["code"]
        entry["error_at"] = error["at"] if _is(error.get("at"), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ") \
            else _now()
    if not _is(entry["escrowed_digest"], r"[0-9a-f]{64}"):
        entry["escrowed_digest"] = None
    return entry


def _marker(path):
    try:
        return decide._read_marker(path)
    except (OSError, ZescrowError):
        return None


def _state(path):
    """state.json's records, or {} (missing, not a regular file, damaged: the report
    still goes, with what the setup says)."""
    try:
        fd = open_regular(path)
    except (OSError, ZescrowError):
        return {}
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_STATE + 1)
    try:
        doc = json.loads(raw) if len(raw) <= MAX_STATE else {}
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _record(current, name):
    """One record of state.json, if it is an object (the user writes that file)."""
    value = current.get(name)
    return value if isinstance(value, dict) else {}


def _is(value, pattern):
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def statement(host_id, entries, now=None):
    """The report's canonical bytes (docs/formats.md "zescrow-report")."""
    # To the microsecond: the server takes only a report newer than the last one.
    now = now or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = {"format": FORMAT, "version": VERSION, "host": host_id, "time": now,
           "users": entries}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def send(enrolment, body):
    """Sign and send the report; returns the server's answer, checked."""
    from zescrow_core import hostkey

    host = urlsplit(enrolment.url).netloc
    try:
        signature = hostkey.sign(enrolment.host_key, body)
    except (OSError, ValueError) as err:
        raise ReportNotEnrolled(reason="the host key %s cannot be read (%s)"
                                % (enrolment.host_key, getattr(err, "strerror", None) or err))
    url = "%s/api/v1/hosts/%s/reports" % (enrolment.url, enrolment.host_id)
    try:
        r = http.request("POST", url, body=body, verify=enrolment.ca_file or True,
                         headers={"Content-Type": "application/json",
                                  "X-Zescrow-Signature": signature},
                         timeout=TIMEOUT, max_body=MAX_ANSWER)
    except http.TooSlow as err:
        raise ServerTooSlow(host=host, seconds="%g" % err.seconds) from None
    except http.TooLarge as err:
        raise ServerAnswerInvalid(host=host, what="POST …/reports", reason=err.reason) from None
    except http.NetworkError as err:
        if err.tls:
            raise TlsFailed(host=host, reason=err.reason, conf=enrolment.path,
                            url=enrolment.url) from None
        raise ServerUnreachable(host=host, reason=err.reason) from None
    try:
        doc = json.loads(r.content)
    except (ValueError, RecursionError):
        doc = None
    if r.status_code != 200:
        message = doc.get("message") if isinstance(doc, dict) else None
        raise ReportRefused(host=host, status=r.status_code, reason=printable(
            message[:400]) if isinstance(message, str) else "no reason given")
    return _checked(doc, host)


def _checked(doc, host):
    what = "POST …/reports"
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list) or \
            not isinstance(doc.get("exposed"), list):
        raise ServerAnswerInvalid(host=host, what=what, reason="it is not {users, exposed}")
    users = []
    for u in doc["users"]:
        if not isinstance(u, dict) or not isinstance(u.get("user"), str) or \
                u.get("state") not in STATES or not isinstance(u.get("reason"), str):
            raise ServerAnswerInvalid(host=host, what=what, reason="a user's judgement is not "
                                      "{user, state, reason}")
        users.append({"user": u["user"][:255], "state": u["state"],
                      "reason": u["reason"][:1000]})
    exposed = []
    for e in doc["exposed"]:
        if not isinstance(e, dict) or not isinstance(e.get("user"), str) or \
                not _is(e.get("escrow"), r"[0-9a-f]{32}") or \
                not _is(e.get("at"), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"):
            raise ServerAnswerInvalid(host=host, what=what, reason="an exposed escrow is not "
                                      "{user, escrow, at, reason}")
        exposed.append({"user": e["user"][:255], "escrow": e["escrow"], "at": e["at"],
                        "reason": e["reason"][:1000] if isinstance(e.get("reason"), str)
                        else ""})
    return {"users": users, "exposed": exposed}


def record_exposed(exposed, state_root=defaults.STATE_ROOT, entries=(), min_uid=1000):
    """Write each exposure into its user's state.json, as that user (the file is theirs);
    an exposure already recorded keeps its `notified` mark. With it goes the setup digest
    the exposed escrow was of (from `entries`, the report): zescrowd forgets the exposure
    once a new key is escrowed. Only an exposure of the escrow this report named for
    that very user counts, and only while it is still that user's last escrow: the
    server's answer must not make root tell one user of another's escrow. Returns the
    users told."""
    told = []
    sent = {(e["user"], e["escrow"]): e["escrowed_digest"] for e in entries if e["escrow"]}
    for e in exposed:
        if (e["user"], e["escrow"]) not in sent:
            log.warning("the server names escrow %s of %r as exposed, which this report did "
                        "not name for that user: ignored", e["escrow"], printable(e["user"]))
            continue
        try:
            user = privileges.User(pwd.getpwnam(e["user"]))
        except (KeyError, ValueError):
            continue
        if user.uid < min_uid:
            continue
        user_dir = os.path.join(state_root, user.name)
        record = {"escrow": e["escrow"], "at": e["at"], "reason": e["reason"],
                  "setup_digest": sent[(e["user"], e["escrow"])]}

        def change(current, record=record):
            if _record(current, "escrowed").get("id") != record["escrow"]:
                return  # a newer escrow since the report: the exposed key is not in use
            if _record(current, "exposed").get("escrow") != record["escrow"]:
                current["exposed"] = dict(record, notified=False)

        try:
            with privileges.as_user(user):
                if not os.path.isdir(user_dir):
                    continue
                state.update(state.path_in(user_dir), change)
        except Exception:  # noqa: BLE001 — one user's files must not stop the others
            log.exception("user %s: the exposure could not be recorded", user.name)
            continue
        told.append(user.name)
    return told


def require_enrolled(enrolment):
    if os.geteuid() != 0:
        raise ReportNotEnrolled(reason="only root can read the host key and every user's "
                                "setup; run it as root (the zescrow-report timer does)")
    if not enrolment.enrolled or not enrolment.host_id:
        raise ReportNotEnrolled(reason="%s names no enrolled host (setup without --token)"
                                % enrolment.path)


def _now():
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
