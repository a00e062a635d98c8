"""zescrowctl inspect: show exactly what would be escrowed, without sending it.

It answers the question users asked of zEscrow in 2012 — what exactly is
backed up? It runs unwrap → verify → archive in memory, with the LOGIN
password, and lists the archive. It never prints the MOUNT passphrase.
"""

import json
import os

from pam_zescrow import capture, defaults, pipeline

from .command import Command


def run(args, out):
    ecryptfs_path = args.ecryptfs_dir or os.path.expanduser("~/" + defaults.ECRYPTFS_DIRNAME)
    rc_path = args.ecryptfsrc or os.path.join(os.path.dirname(os.path.abspath(ecryptfs_path)),
                                              defaults.ECRYPTFSRC)
    password = capture.login_password(args.password_fd, ecryptfs_path)
    with password:
        prepared = pipeline.prepare(ecryptfs_path, password, rc_path)
    report = describe(prepared)
    if args.format == "json":
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write(as_text(report))
    return 0


def describe(prepared):
    setup, verified = prepared.setup, prepared.verified
    return {
        "ecryptfs_dir": setup.path,
        "real_path": setup.real_path,
        "verified": True,
        "key_signature": verified.fekek_sig,
        "fnek_signature": verified.fnek_sig,
        "archive_bytes": len(prepared.archive.data),
        "members": [{"name": m.name + ("/" if m.is_dir else ""), "size": None if m.is_dir
                     else m.size, "mode": "%04o" % m.mode, "replaces": m.replaced}
                    for m in prepared.archive.members],
        "not_escrowed": [defaults.WRAPPED_PASSPHRASE],
    }


def as_text(report):
    where = report["ecryptfs_dir"]
    if os.path.abspath(where) != report["real_path"]:
        where += " -> " + report["real_path"]
    sigs = "key signature %s" % report["key_signature"]
    if report["fnek_signature"]:
        sigs += ", filename key signature %s" % report["fnek_signature"]
    lines = [
        "eCryptfs setup: %s" % where,
        "MOUNT passphrase: unwrapped with your LOGIN password and verified against "
        "Private.sig (%s)." % sigs,
        "Would be escrowed: a gzip'd tar of %d bytes, sealed to the server key before it "
        "leaves this machine:" % report["archive_bytes"],
        "  mode   size  name",
    ]
    for m in report["members"]:
        size = "-" if m["size"] is None else str(m["size"])
        note = ""
        if m["replaces"]:
            note = "  (replaces %s: your MOUNT passphrase, not shown here)" % m["replaces"]
        lines.append("  %s %6s  %s%s" % (m["mode"], size, m["name"], note))
    lines.append("Not escrowed: wrapped-passphrase (with it, anyone could test guesses of "
                 "your LOGIN password offline).")
    return "\n".join(lines) + "\n"


def add_arguments(parser):
    parser.add_argument("--ecryptfs-dir", metavar="DIR",
                        help="the eCryptfs folder to inspect (default: ~/.ecryptfs)")
    parser.add_argument("--ecryptfsrc", metavar="FILE",
                        help="where a v1 wrapped-passphrase's salt= is (default: .ecryptfsrc "
                             "beside the eCryptfs folder)")
    parser.add_argument("--password-fd", metavar="N", type=int,
                        help="read the LOGIN password from file descriptor N (one trailing "
                             "newline is dropped) instead of asking on the terminal")


command = Command("inspect", "show exactly what would be escrowed, without sending anything",
                  add_arguments, run)
