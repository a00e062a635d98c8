"""zescrow-server: init, serve, admin; one module per command, one error handler.

    zescrow-server [--data DIR] init [--self-signed] [--hostname H] [--bind A:P]
    zescrow-server [--data DIR] serve [--workers N]
    zescrow-server [--data DIR] admin list | purge-expired | export-audit
    zescrow-server [--data DIR] admin revoke-sessions WHO [--provider NAME]

The data folder is --data, else $ZESCROW_SERVER_DATA_DIR, else
/var/lib/zescrow-server; its zescrow-server.toml holds the settings
(docs/server.md). As root, every command acts as the data folder's owner
(cli/datadir.py).

This is the only place that turns an error into an exit code
(docs/errors.md): a ZescrowError prints one line, what is wrong and what to
do, and exits with its code; a reader that goes away (`| head`) ends the
command quietly with 141, as SIGPIPE ends a Unix tool; Ctrl-C exits 130;
anything else prints one line and exits 2 (the traceback with --debug).
"""

import argparse
import logging
import os
import sys

from pam_zescrow import __version__
from pam_zescrow.errors import ZescrowError

from . import admin, datadir, init, serve

COMMANDS = [init.command, serve.command, admin.command]
OUTPUT_CLOSED = 128 + 13  # 128 + SIGPIPE, what a shell shows for `yes | head`
log = logging.getLogger("zescrow.server.cli")


def build_parser():
    parser = argparse.ArgumentParser(prog="zescrow-server", description=(
        "The zescrow escrow server: it keeps eCryptfs keys sealed to its own key."))
    parser.add_argument("--version", action="version", version="zescrow-server " + __version__)
    parser.add_argument("--data", default=None, help="the data folder (default: "
                        "$ZESCROW_SERVER_DATA_DIR or %s)" % datadir.DEFAULT)
    parser.add_argument("--debug", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="zescrow-server: %(name)s: %(message)s")
    try:
        args.data_dir = datadir.resolve(args.data)
        datadir.act_as_owner(args.data_dir)
        code = _run(args)
        sys.stdout.flush()  # a closed pipe shows here, while it can still be handled
        return code
    except ZescrowError as err:
        print("zescrow-server: error: %s; what to do: %s" % (err.text, err.hint_text),
              file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        _discard_stdout()
        return OUTPUT_CLOSED
    except KeyboardInterrupt:
        print("zescrow-server: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the one place a surprise is caught: one line, details on demand
        log.debug("unexpected error in zescrow-server %s", args.command, exc_info=True)
        print("zescrow-server: error: unexpected %s: %s; what to do: run it again with --debug "
              "and report the output" % (type(err).__name__, err), file=sys.stderr)
        return 2


def _run(args):
    """The command, with the OS's and the database's errors said in our terms."""
    try:
        return args.run(args)
    except PermissionError as err:
        raise datadir.permission_error(err, args.data_dir) from None
    except Exception as err:
        problem = _database_error(err, args)
        if problem is None:
            raise
        raise problem from None


def _database_error(err, args):
    """The database's failure in our terms (DatabaseUnavailable), or None."""
    import sqlite3

    if isinstance(err, sqlite3.Error):  # admin coverage reads through the driver
        from ..errors import DatabaseUnavailable

        return DatabaseUnavailable(reason=str(err).splitlines()[0] if str(err) else
                                   type(err).__name__, conf=datadir.conf_path(args.data_dir))
    if "sqlalchemy" not in sys.modules:
        return None
    from .. import db

    return db.as_error(err, datadir.conf_path(args.data_dir))


def _discard_stdout():
    # Python flushes stdout again at exit: point it at /dev/null so that
    # this flush cannot fail and print "Exception ignored ... BrokenPipeError".
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def run():
    sys.exit(main())
