"""zescrowctl status: where things stand, in plain words (or --format json for scripts)."""

import json

from pam_zescrow import spool, state
from pam_zescrow.printable import printable

from .. import account, claimurl
from ..config import ClientConfig
from ..formats import seconds_until, spaced_fingerprint
from .command import Command


def run(args, out):
    cfg = ClientConfig()
    report = collect(cfg, refresh=not args.offline)
    as_json = args.format == "json" or args.json
    out.write(json.dumps(report, indent=2, sort_keys=True) + "\n" if as_json
              else as_text(report))
    return 0


def collect(cfg, refresh=True):
    current = state.load(cfg.state_path)
    record = current.get("escrowed")
    refresh_error = None
    if record and refresh and record.get("state") == "unclaimed":
        record, refresh_error = _refresh(cfg, record)
    uploads = current.get("uploads", {})
    pending = [{"archive": e.name, "created": (e.meta or {}).get("created"),
                "attempts": uploads.get(e.name, {}).get("attempts", 0),
                "waiting_for_you": bool(uploads.get(e.name, {}).get("permanent"))}
               for e in spool.pending(cfg.spool_dir)]
    why = None if record else account.why_no_escrow(cfg, pending)
    daemon, detail = _daemon_state()
    return {"server": cfg.url or None, "fingerprint": cfg.fingerprint or None,
            "config": cfg.source if cfg.enrolled else None,
            "state": account.state_of(why) if why else "escrowed",
            "why": why.as_json() if why else None,
            "escrow": _public(record), "pending": pending, "refresh_error": refresh_error,
            "last_error": current.get("last_error"), "daemon": daemon, "daemon_detail": detail,
            "exposed": _exposed(current.get("exposed"))}


def _exposed(record):
    if not isinstance(record, dict):
        return None
    return {k: record.get(k) if isinstance(record.get(k), str) else None
            for k in ("escrow", "at", "reason")}


def _refresh(cfg, record):
    """(the record with the server's claim state, None), or (the record as it was, the
    error that kept the server from answering: offline, or an answer that does not parse)."""
    from pam_zescrow.errors import ZescrowError

    from .. import upload

    try:
        answer = upload.status(cfg, record)
    except ZescrowError as err:
        return record, upload.as_record(err)  # show what we knew, and why it may be stale
    changes = {"state": answer["state"], "verification": answer["verification"],
               "verification_error": answer.get("verification_error"),
               "claimed_at": answer.get("claimed_at")}
    state.update(cfg.state_path, lambda s: s.get("escrowed", {}).update(changes))
    return dict(record, **changes), None


def _public(record):
    if not record:
        return None
    keep = ("id", "at", "sha256", "key_signature", "state", "claim_expires_at",
            "claimed_at", "verification", "verification_error", "server_url")
    url, refused = claimurl.checked(record)  # checked again: an older version kept any link
    return dict({k: record.get(k) for k in keep}, claim_url=url,
                claim_url_refused=claimurl.as_record(refused) if refused else None)


def _daemon_state():
    """(systemd's word for zescrowd.service, or "unknown"; why it is unknown)."""
    import subprocess

    try:
        proc = subprocess.run(["systemctl", "--user", "is-active", "zescrowd.service"],
                              capture_output=True, text=True, timeout=5)
    except FileNotFoundError:
        return "unknown", "systemctl is not installed: this machine does not run systemd"
    except (OSError, subprocess.SubprocessError) as err:
        return "unknown", "systemctl --user did not answer (%s)" % err
    word = proc.stdout.strip()
    if word in ("active", "inactive", "activating", "failed"):
        return word, None
    said = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
    return "unknown", ("systemctl --user cannot reach a systemd user instance: %s; there is one "
                       "in a desktop or ssh login session" % said.rstrip("."))


SITUATION = {
    "waiting-for-upload": "waiting for upload — an archive is in the spool (see Pending)",
    "not-applicable": "not applicable — %s",
    "not-enrolled": "not enrolled — nothing is escrowed until an escrow server is set up",
    "not-escrowed-yet": "nothing escrowed yet (it happens at your next login)",
}


def as_text(r):
    lines = []
    if r["server"]:
        lines.append("Server:      %s (key %s)" % (r["server"], spaced_fingerprint(r["fingerprint"])))
    else:
        lines.append("Server:      none set up — enrol the machine: zescrowctl setup SERVER_URL "
                     "--system; or only your account: zescrowctl setup SERVER_URL")
    e = r["escrow"]
    if not e:
        text = SITUATION[r["state"]]
        lines.append("Escrow:      " + (text % r["why"]["message"] if "%s" in text else text))
        if r["state"] in ("not-applicable", "not-enrolled"):
            lines.append("             what to do: %s" % r["why"]["hint"])
    else:
        lines.append("Escrow:      %s, sha256 %s…, key signature %s" % (
            e["at"], (e["sha256"] or "")[:16], e["key_signature"]))
        check = {"verified": "the server checked it: it opens your data",
                 "failed": "FAILED: %s" % e.get("verification_error"),
                 "pending": "the server is still checking it",
                 "client-checked": "checked by this machine before sealing (custodians mode: "
                                   "the server cannot open it, k of its custodians can)",
                 }.get(e["verification"], "?")
        lines.append("Check:       %s" % check)
        if e["state"] == "unclaimed" and e["claim_url_refused"]:
            lines.append("Claim:       not claimed yet — %s left, but %s" % (
                _left(e["claim_expires_at"]), e["claim_url_refused"]["message"]))
            lines.append("             what to do: %s" % e["claim_url_refused"]["hint"])
        elif e["state"] == "unclaimed":
            lines.append("Claim:       not claimed yet — %s left: %s" % (
                _left(e["claim_expires_at"]), e["claim_url"]))
        elif e["state"] == "claimed":
            lines.append("Claim:       claimed on %s" % e.get("claimed_at"))
        else:
            lines.append("Claim:       the claim window is over; it will be escrowed again")
    if r["refresh_error"]:
        lines.append("             (could not ask the server for the claim state: %s)"
                     % r["refresh_error"]["message"])
    for p in r["pending"]:
        how = "waiting for you (see the error)" if p["waiting_for_you"] else (
            "%d attempt%s so far" % (p["attempts"], "" if p["attempts"] == 1 else "s"))
        lines.append("Pending:     %s (made %s), %s" % (p["archive"], p["created"], how))
    if r.get("exposed"):
        from ..notify import exposed_lines

        first, *rest = exposed_lines(r["exposed"])
        lines.append("EXPOSED:     " + first)
        lines += ["             " + line for line in rest]
    err = r["last_error"]
    if err:
        lines.append("Last error:  %s" % err.get("message"))
        lines.append("             what to do: %s" % err.get("hint"))
        if err.get("next_retry_at"):
            lines.append("             next retry: %s" % err["next_retry_at"])
    daemon = {"active": "running", "inactive": "not running (it starts when there is "
              "something to upload)", "failed": "failed (see: journalctl --user -u zescrowd)"}
    lines.append("Daemon:      %s" % daemon.get(r["daemon"], r["daemon"]) + (
        " (%s)" % r["daemon_detail"] if r.get("daemon_detail") else ""))
    # Much of this came from the server or from state.json: each line is escaped
    # (an escape sequence would retitle the terminal or hide a link's target).
    return "\n".join(printable(line) for line in lines) + "\n"


def _left(moment):
    seconds = seconds_until(moment)
    if seconds is None:
        return "?"
    if seconds <= 0:
        return "no time"
    return "%dh %02dm" % (seconds // 3600, seconds % 3600 // 60)


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument("--offline", action="store_true",
                        help="do not ask the server for the claim state")


command = Command("status", "show the escrow, its claim, and anything pending or failed",
                  add_arguments, run)
