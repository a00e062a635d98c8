"""zescrowd: from the spool to the server, and the claim URL to the user.

Started by zescrowd.path when a sealed archive lands in the spool. For
each archive: check the server still has the pinned key, upload, check the
sha256 it answers, record the escrow in state.json, and only then delete
the archive (S8). Transient failures are retried with exponential backoff
and jitter; a refusal with a reason waits for `zescrowctl retry`. Then a
desktop notification with a Claim action; a click opens the claim URL and
the daemon follows the claim until it is done. When nothing is pending and
no notification waits for a click, it exits: no idle process per session.
"""

import argparse
import logging
import os
import random
import subprocess
import sys
import time

from pam_zescrow import spool, state
from pam_zescrow.errors import ZescrowError
from pam_zescrow.fsutil import atomic_write
from pam_zescrow.printable import EscapingFilter

from . import claimurl, notify, upload
from .config import ClientConfig
from .formats import iso, now_iso, seconds_until

log = logging.getLogger("zescrow.daemon")
RETRY_MAX = 900.0
REMIND_BEFORE = 2 * 3600


def retry_base():
    # Seconds before the first retry. The override exists for the tests only.
    return float(os.environ.get("ZESCROW_TESTONLY_RETRY_BASE", "5"))


def backoff(attempts):
    delay = min(RETRY_MAX, retry_base() * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.8, 1.2)


class Daemon:
    def __init__(self, cfg, notifier, follow_seconds=1800, poll_seconds=10):
        self.cfg, self.notifier = cfg, notifier
        self.follow_seconds, self.poll_seconds = follow_seconds, poll_seconds
        self.open_claim = None  # (notification id, claim link) while a claim bubble is up
        self.follow_until = 0.0
        self.next_poll = 0.0

    # --- the loop ---------------------------------------------------------
    def run(self):
        self.remind_if_due()
        self.tell_exposed()
        while True:
            self.upload_due()
            if self.notifier:
                self.notifier.pump(0)
                self.handle_signals()
            if self.following():
                self.poll_claim()
            wait = self.next_retry_in()
            if wait is None and self.open_claim is None and not self.following():
                return 0
            self.sleep(min(wait if wait is not None else 1.0, 1.0))

    def sleep(self, seconds):
        if self.notifier:
            self.notifier.pump(seconds)
        else:
            time.sleep(seconds)

    # --- uploads ----------------------------------------------------------
    def upload_due(self):
        now = time.time()
        uploads = state.load(self.cfg.state_path).get("uploads", {})
        for entry in spool.pending(self.cfg.spool_dir):
            info = uploads.get(entry.name, {})
            if entry.meta is None or info.get("permanent") or info.get("next_at", 0) > now:
                continue
            self.upload_one(entry, info)

    def upload_one(self, entry, info):
        self.status("uploading %s" % entry.name)
        try:
            answer = upload.upload(self.cfg, entry)
        except ZescrowError as err:
            self.failed(entry, info, err)
            return
        # The server acknowledged the archive: it is escrowed, whatever its claim
        # link is worth. A link zescrow does not open is left out, with the reason.
        refused = claimurl.refusal(answer["claim_url"], answer["server_url"])
        record = {"id": answer["id"], "claim_url": None if refused else answer["claim_url"],
                  "claim_url_refused": claimurl.as_record(refused) if refused else None,
                  "upload_token": answer["upload_token"], "sha256": answer["sha256"],
                  "claim_expires_at": answer["claim_expires_at"],
                  "server_url": answer["server_url"], "state": "unclaimed",
                  "verification": "pending", "at": now_iso(),
                  "setup_digest": entry.meta.get("setup_digest"),
                  "key_signature": entry.meta.get("key_signature"), "archive": entry.name}

        def change(current):
            current["escrowed"] = record
            current.get("uploads", {}).pop(entry.name, None)
            current["last_error"] = None  # a refused claim link is told in the record
            exposed = current.get("exposed") or {}
            if exposed.get("setup_digest") and exposed["setup_digest"] != record["setup_digest"]:
                current.pop("exposed")  # a new key escrowed: the recovered one opens nothing

        state.update(self.cfg.state_path, change)
        if record["setup_digest"]:  # what the PAM hook's decide step compares with
            atomic_write(os.path.join(self.cfg.user_dir, spool.ESCROWED_MARKER),
                         record["setup_digest"].encode() + b"\n", 0o600)
        # Only now, with the server's answer recorded, does the archive leave (S8).
        for path in (entry.meta_path, entry.sealed_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if refused:
            log.error("uploaded %s as escrow %s, but %s (%s)", entry.name, record["id"],
                      refused.text, refused.hint_text)
        else:
            log.info("uploaded %s as escrow %s; claim it at %s", entry.name, record["id"],
                     record["claim_url"])
        self.status("uploaded; waiting for the claim")
        self.show_claim(record)

    def failed(self, entry, info, err):
        attempts = info.get("attempts", 0) + 1
        transient = getattr(err, "transient", False)
        delay = backoff(attempts) if transient else None
        if "seconds" in err.details:  # 429: the server said how long to wait
            delay = max(delay, float(err.details["seconds"]) * random.uniform(1.0, 1.2))
        record = {"attempts": attempts, "permanent": not transient,
                  "next_at": time.time() + delay if delay else None,
                  "error": upload.as_record(err)}

        def change(current):
            current.setdefault("uploads", {})[entry.name] = record
            current["last_error"] = dict(upload.as_record(err), at=now_iso(),
                                         next_retry_at=iso(record["next_at"]))

        state.update(self.cfg.state_path, change)
        if transient:
            log.warning("%s not uploaded: %s; retry %d in %.0f s", entry.name, err.text,
                        attempts, delay)
        else:
            log.error("%s not uploaded: %s (%s)", entry.name, err.text, err.hint_text)

    def next_retry_in(self):
        """Seconds until the next retry, or None when nothing waits for one."""
        uploads = state.load(self.cfg.state_path).get("uploads", {})
        waits = []
        for entry in spool.pending(self.cfg.spool_dir):
            info = uploads.get(entry.name, {})
            if entry.meta is None or info.get("permanent"):
                continue
            waits.append(max(0.0, (info.get("next_at") or 0) - time.time()))
        return min(waits) if waits else None

    # --- notifications and the claim -----------------------------------------
    def show_claim(self, record):
        if not self.notifier:
            log.info("no notification server: the claim URL waits in zescrowctl status")
            return
        url, refused = claimurl.checked(record)
        if refused:  # nothing to click: the bubble says why, and where the escrow is
            self.notifier.refused(refused)
            return
        nid = self.notifier.claim(url, record["claim_expires_at"])
        self.open_claim = (nid, url)

    def handle_signals(self):
        actions, self.notifier.actions[:] = list(self.notifier.actions), []
        closed, self.notifier.closed[:] = list(self.notifier.closed), []
        if self.open_claim is None:
            return
        nid, url = self.open_claim
        if any(n == nid and key in ("default", "claim") for n, key in actions):
            log.info("opening the claim URL in the browser")
            subprocess.Popen(["xdg-open", url], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.notifier.close(nid)
            self.open_claim = None
            self.follow_until = time.monotonic() + self.follow_seconds
            state.update(self.cfg.state_path, lambda s: s.get("escrowed", {}).update(
                clicked_at=now_iso()))
        elif any(n == nid for n, _ in closed):
            self.open_claim = None

    def following(self):
        return time.monotonic() < self.follow_until

    def poll_claim(self):
        if time.monotonic() < self.next_poll:
            return
        self.next_poll = time.monotonic() + self.poll_seconds
        record = state.load(self.cfg.state_path).get("escrowed")
        if not record:
            self.follow_until = 0
            return
        try:
            answer = upload.status(self.cfg, record)
        except ZescrowError as err:
            log.warning("cannot follow the claim: %s", err.text)
            return
        state.update(self.cfg.state_path, lambda s: s.get("escrowed", {}).update(
            state=answer["state"], verification=answer["verification"],
            verification_error=answer.get("verification_error"),
            claimed_at=answer.get("claimed_at")))
        if answer["state"] != "unclaimed":
            self.follow_until = 0
            if answer["state"] == "claimed" and self.notifier:
                self.notifier.info("Your key backup is claimed",
                                   "It belongs to your account on %s now." % record["server_url"])
            log.info("escrow %s is %s", record["id"], answer["state"])

    def remind_if_due(self):
        record = state.load(self.cfg.state_path).get("escrowed")
        if not record or record.get("state") != "unclaimed" or record.get("reminded_at"):
            return
        left = seconds_until(record.get("claim_expires_at"))
        if left is not None and 0 < left < REMIND_BEFORE:
            self.show_claim(record)
            state.update(self.cfg.state_path, lambda s: s["escrowed"].update(
                reminded_at=now_iso()))

    def tell_exposed(self):
        """Once: the helpdesk recovered this user's escrow (root's coverage report wrote
        it into state.json, zescrowd/report.py). The key is no longer the user's secret."""
        record = state.load(self.cfg.state_path).get("exposed")
        if not record or record.get("notified") or not self.notifier:
            return  # without a notification server, zescrowctl status still says it
        self.notifier.info(notify.EXPOSED_SUMMARY, *notify.exposed_lines(record),
                           icon="dialog-warning")
        state.update(self.cfg.state_path, lambda s: s["exposed"].update(notified=now_iso()))
        log.warning("told the user that escrow %s was recovered by the helpdesk",
                    record.get("escrow"))

    def status(self, text):
        _sd_notify("STATUS=" + text)


def _sd_notify(message):
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    try:
        from systemd import daemon

        daemon.notify(message)
    except ImportError:
        pass


def build_parser():
    from pam_zescrow import __version__

    parser = argparse.ArgumentParser(prog="zescrowd", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version="zescrowd " + __version__)
    parser.add_argument("--follow-seconds", type=float, default=1800, metavar="N",
                        help="how long to follow a claim after the click (default 1800)")
    parser.add_argument("--poll-seconds", type=float, default=10, metavar="N",
                        help="how often to ask the server while following (default 10)")
    parser.add_argument("--no-notify", action="store_true", help="no desktop notifications")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)  # under systemd: the journal
    handler.addFilter(EscapingFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("zescrow")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    cfg = ClientConfig()
    log.info("zescrowd starting (spool %s)", cfg.spool_dir)
    notifier = None if args.no_notify else notify.connect()
    _sd_notify("READY=1")
    try:
        code = Daemon(cfg, notifier, args.follow_seconds, args.poll_seconds).run()
    except ZescrowError as err:
        log.error("zescrowd stopped: %s (%s)", err.text, err.hint_text)
        code = err.exit_code
    except Exception:  # a bug: the traceback goes to the journal, the archive stays
        log.exception("zescrowd stopped by an unexpected error (a bug; please report it)")
        code = 2
    _sd_notify("STOPPING=1")
    log.info("zescrowd idle, exiting")
    return code


def run():
    sys.exit(main())
