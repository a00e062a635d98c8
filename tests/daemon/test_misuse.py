"""Every zescrowctl subcommand where a new user first meets it: as root, as a user
without an eCryptfs home, before any setup, with no terminal, with the wrong
files. Each answer names the cause and the next step, never shows a traceback,
and ends with an exit code that docs/errors.md lists."""

import json
import os
import re
import subprocess
import sys

import pytest

from pam_zescrow import pipeline
from tests.conftest import ROOT
from tests.daemon.conftest import MOUNT

pytestmark = pytest.mark.root


def documented_exit_codes():
    text = (ROOT / "docs" / "errors.md").read_text()
    return {int(code) for code in re.findall(r"^\| (\d+) \|", text, re.M)}


def commands(w):
    url = w.server.url
    return [
        ("status",), ("status", "--format", "json"), ("status", "--offline"),
        ("setup", url, "--ca-file", str(w.ca)),
        ("setup", url, "--system", "--ca-file", str(w.ca)),
        ("escrow",), ("inspect",), ("claim", "--print-only"), ("retry",),
        ("recover", str(w.sealed)),
        ("recover", str(w.archive), "--ecryptfs-dir", str(w.other_setup)),
        ("recover", str(w.archive), "--ecryptfs-dir", str(w.empty_dir)),
        ("recover", str(w.archive), "--rewrap", str(w.empty_dir / "new")),
    ]


def problems_with(args, r, documented):
    """What is wrong with one answer, as a list of sentences (empty when it is right)."""
    found = []
    both = r.stdout + r.stderr
    if "Traceback" in both or "unexpected error" in both:
        found.append("a traceback or an unexpected error")
    if r.returncode not in documented or r.returncode == 2:
        found.append("exit code %d is not a documented specific one" % r.returncode)
    if r.returncode >= 3 and "--format" not in args:
        if not r.stderr.startswith("zescrowctl: error: ") or "what to do: " not in r.stderr:
            found.append("no cause and next step on stderr")
    if r.returncode >= 3 and "--format" in args:
        answer = json.loads(r.stdout)
        if not (answer.get("error") and answer.get("message") and answer.get("hint")):
            found.append("no JSON error with a message and a hint")
    if r.returncode < 3 and not r.stdout.strip():
        found.append("nothing said")
    return found


# Who runs it, and whether the machine is enrolled ("before any setup" when not).
CONTEXTS = [("root", False), ("root", True), ("no-ecryptfs", False), ("no-ecryptfs", True),
            ("ecryptfs", False)]


@pytest.mark.parametrize("who,enrolled", CONTEXTS)
def test_every_command_answers_with_a_cause_a_next_step_and_a_documented_code(
        world, who, enrolled):
    user = None
    if who != "root":
        user = world.machine.add_user(b"a throwaway password",
                                      MOUNT if who == "ecryptfs" else None)
    if enrolled:
        world.enrol()
    documented = documented_exit_codes()
    report = []
    for args in commands(world):
        r = world.run(user, *args)
        for problem in problems_with(args, r, documented):
            report.append("zescrowctl %s -> %d: %s\n%s%s" % (" ".join(args), r.returncode,
                                                             problem, r.stdout, r.stderr))
    assert not report, "\n".join(report)


def test_status_says_what_is_true_in_each_state(world):
    no_home = world.machine.add_user(b"a throwaway password")
    with_home = world.machine.add_user(b"a throwaway password", MOUNT)

    def status(user):
        r = world.run(user, "status")
        assert r.returncode == 0, r.stderr
        as_json = json.loads(world.run(user, "status", "--format", "json").stdout)
        return r.stdout, as_json

    text, report = status(None)
    assert "not applicable" in text and "root" in text, text
    assert report["state"] == "not-applicable"
    text, report = status(no_home)
    assert "not applicable" in text and "no eCryptfs home" in text, text
    assert report["state"] == "not-applicable"
    text, report = status(with_home)
    assert "not enrolled" in text and "zescrowctl setup" in text, text
    assert report["state"] == "not-enrolled"
    # The daemon's state: systemctl --user cannot answer here, and status says why.
    assert re.search(r"Daemon: +unknown \(.+\)", text), text
    assert report["daemon"] == "unknown" and report["daemon_detail"]

    world.enrol()
    text, report = status(with_home)
    assert "nothing escrowed yet" in text and report["state"] == "not-escrowed-yet", text
    spool = world.machine.state_dir / with_home / "spool"
    setup = world.machine.base / with_home / "home" / ".ecryptfs"
    pipeline.escrow(pipeline.prepare(str(setup), b"a throwaway password"),
                    str(world.machine.etc / "server-key.asc"), world.fingerprint, str(spool),
                    with_home, server_url=world.server.url)
    subprocess.run(["chown", "-R", "%s:%s" % (with_home, with_home),
                    str(world.machine.state_dir / with_home)], check=True)
    text, report = status(with_home)
    assert "waiting for upload" in text and "Pending:" in text, text
    assert report["state"] == "waiting-for-upload"


def test_recover_says_which_wrong_file_it_was_given(world):
    r = world.run(None, "recover", str(world.sealed))
    assert "this is the sealed archive" in r.stderr, r.stderr
    assert "download the claimed one from the server" in r.stderr, r.stderr
    r = world.run(None, "recover", str(world.archive), "--ecryptfs-dir", str(world.other_setup))
    assert "belongs to another setup" in r.stderr, r.stderr
    r = world.run(None, "recover", str(world.archive), "--ecryptfs-dir", str(world.empty_dir))
    assert "no Private.sig" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.returncode in documented_exit_codes() and r.returncode >= 3


def test_retry_as_root_and_without_ecryptfs_says_nothing_waits(world):
    user = world.machine.add_user(b"a throwaway password")
    for who in (None, user):
        r = world.run(who, "retry")
        assert r.returncode == 0 and "Nothing waits" in r.stdout, r.stdout + r.stderr


def test_setup_system_as_a_normal_user_says_it_needs_root(world):
    user = world.machine.add_user(b"a throwaway password")
    r = world.run(user, "setup", world.server.url, "--system", "--ca-file", str(world.ca),
                  "--fingerprint", world.fingerprint)
    assert r.returncode in documented_exit_codes() and r.returncode >= 3, r.stderr
    assert "root" in r.stderr and "sudo zescrowctl setup" in r.stderr, r.stderr
    assert not world.machine.conf.exists()


@pytest.mark.parametrize("program", ["zescrowctl", "zescrowd"])
def test_version(program):
    from pam_zescrow import __version__

    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), program), "--version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "%s %s" % (program, __version__), r
