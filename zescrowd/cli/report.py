"""zescrowctl report: tell the escrow server which users this machine covers (root).

Run daily by zescrow-report.timer on a machine enrolled with a token. It
gathers, for each local user with an eCryptfs setup, the digests and the
last escrow (zescrowd/report.py says what, and that no secret is in it),
signs that with the host key and sends it; prints the server's judgement
of each user, and records any escrow the helpdesk recovered in that user's
state, where zescrowctl status and a notification tell them.
"""

import json

from pam_zescrow import config, defaults
from pam_zescrow.printable import printable

from ..config import ClientConfig
from .command import Command


def run(args, out):
    from .. import report

    paths = ClientConfig()  # ZESCROW_CONF and ZESCROW_STATE_DIR, as for every command
    enrolment = config.load(args.conf or paths.system_path, require_root_owned=True)
    report.require_enrolled(enrolment)
    entries = report.gather(enrolment, paths.state_root)
    body = report.statement(enrolment.host_id, entries)
    if args.dry_run:
        out.write(json.dumps(json.loads(body), indent=2, sort_keys=True) + "\n")
        return 0
    answer = report.send(enrolment, body)
    told = report.record_exposed(answer["exposed"], paths.state_root, entries,
                                 enrolment.min_uid)
    if args.format == "json":
        out.write(json.dumps(dict(answer, told=told), indent=2, sort_keys=True) + "\n")
        return 0
    out.write("Reported %d user%s with an eCryptfs home to %s (host %s):\n" % (
        len(entries), "" if len(entries) == 1 else "s", enrolment.url, enrolment.host_id))
    for u in answer["users"]:
        out.write("  %-16s %-9s %s\n" % (printable(u["user"]), u["state"], printable(u["reason"])))
    for e in answer["exposed"]:
        out.write("  %s: escrow %s was recovered by the helpdesk on %s UTC (%s)%s\n" % (
            printable(e["user"]), e["escrow"], e["at"].replace("T", " ").rstrip("Z"),
            printable(e["reason"]) or "no reason given",
            "; recorded for the user" if e["user"] in told else ""))
    return 0


def add_arguments(p):
    p.add_argument("--conf", help="the machine's enrolment (default: %s)"
                   % defaults.SYSTEM_CONFIG)
    p.add_argument("--dry-run", action="store_true",
                   help="print the report that would be sent, and send nothing")


command = Command("report", "send this machine's coverage report (root; zescrow-report.timer "
                  "runs it daily)", add_arguments, run)
