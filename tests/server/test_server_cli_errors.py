"""zescrow-server's errors as an admin meets them: one line, what to do, a documented code.

Each case runs the real program as a subprocess, as borg's return-code
tests do: the line on stderr and the exit code are the contract
(docs/errors.md), never a traceback.
"""

import json
import os
import socket
import subprocess

import pytest

from tests.conftest import ROOT
from tests.server.admin import CLI, as_user, cli, data_folder, throwaway_user
from zescrow_server import errors

SIGPIPE_EXIT = 128 + 13  # what a shell reports for a Unix tool whose reader went away


def one_line_error(run, error):
    """The single stderr line of a run that failed with `error`."""
    lines = run.stderr.strip().splitlines()
    assert "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("zescrow-server: error: ") and "; what to do: " in lines[0]
    assert run.returncode == error.exit_code, run.stderr
    return lines[0]


@pytest.fixture(scope="module")
def made():
    """A data folder made by init (no certificate: nothing here serves)."""
    with data_folder() as data:
        r = cli(data, "init")
        assert r.returncode == 0, r.stderr
        yield data


def test_a_toml_typo_names_the_file_and_line(made):
    conf = os.path.join(made, "zescrow-server.toml")
    good = open(conf).read()
    try:
        with open(conf, "a") as f:
            f.write("workers = = 3\n")
        for command in (["admin", "list"], ["serve"], ["init"]):
            line = one_line_error(cli(made, *command), errors.ServerConfigInvalid)
            assert conf in line and "line %d" % (good.count("\n") + 1) in line
    finally:
        with open(conf, "w") as f:
            f.write(good)


def test_a_setting_of_the_wrong_kind_names_it(made):
    r = cli(made, "admin", "list", env=dict(os.environ, ZESCROW_SERVER_WORKERS="many"))
    assert "workers" in one_line_error(r, errors.ServerConfigInvalid)


def test_a_missing_data_folder_says_to_run_init():
    with data_folder() as data:
        for command in (["admin", "list"], ["serve"], ["admin", "export-audit"]):
            line = one_line_error(cli(data, *command), errors.DataFolderMissing)
            assert data in line and "zescrow-server --data %s init" % data in line
        assert not os.path.exists(data)


def test_an_unreadable_data_folder_names_its_owner(made):
    with throwaway_user() as user:
        for command in (["admin", "list"], ["init"], ["serve"]):
            r = cli(made, *command, prefix=as_user(user))
            line = one_line_error(r, errors.DataFolderUnreadable)
            assert made in line and "root" in line and "sudo" in line


def test_a_bind_that_is_not_an_address_and_port_is_refused_before_anything_is_made():
    with data_folder() as data:
        for bad in ("escrow.example.org:8443", "127.0.0.1:99999", "8443", "127.0.0.1"):
            line = one_line_error(cli(data, "init", "--bind", bad), errors.BindInvalid)
            assert bad in line and "0.0.0.0:8443" in line
        assert not os.path.exists(data)


def test_a_port_in_use_is_said_at_once(made):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = "127.0.0.1:%d" % taken.getsockname()[1]
        with data_folder() as data:
            assert cli(data, "init", "--self-signed", "--bind", bind).returncode == 0
            r = cli(data, "serve", timeout=30)
            assert bind in one_line_error(r, errors.PortInUse)


def test_output_closed_early_ends_quietly_and_the_export_is_still_audited(made):
    assert cli(made, "admin", "export-audit").returncode == 0  # now there is a line to write
    reader_gone = subprocess.Popen([CLI, "--data", made, "admin", "export-audit"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader_gone.stdout.close()  # as `| head -0` does, before the program writes
    stderr = reader_gone.stderr.read().decode()
    assert (reader_gone.wait(timeout=60), stderr) == (SIGPIPE_EXIT, "")
    events = map(json.loads, cli(made, "admin", "export-audit").stdout.splitlines())
    assert [e["actor"] for e in events if e["action"] == "audit-export"] == ["admin", "admin"]


def test_a_database_that_cannot_be_reached_is_named_not_traced(made):
    unreachable = "postgresql://zescrow@127.0.0.1:%d/zescrow" % _closed_port()
    r = cli(made, "admin", "list", env=dict(os.environ, ZESCROW_SERVER_DATABASE_URL=unreachable))
    assert "refused" in one_line_error(r, errors.DatabaseUnavailable)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once it is closed


def test_every_error_has_its_row_in_docs_server_md():
    from pam_zescrow.errors import ZescrowError

    text = (ROOT / "docs" / "server.md").read_text()
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, ZescrowError) and c is not ZescrowError]
    assert len(classes) >= 10
    missing = [c.__name__ for c in classes if "| %d | `%s` | %s | %s |" % (
        c.exit_code, c.code, c.message.replace("|", "\\|"), c.hint.replace("|", "\\|"))
        not in text]
    assert missing == [], "docs/server.md: no row (or an old one) for " + ", ".join(missing)
