"""zescrowctl: one module per subcommand, one top-level error handler.

This is the only place that turns an error into an exit code
(docs/errors.md): a ZescrowError prints its message and hint (or JSON) and
exits with its code; Ctrl-C exits 130; anything else prints one line (and,
with --debug, the traceback) and exits 2.
"""

import argparse
import json
import sys

from pam_zescrow import __version__
from pam_zescrow.errors import ZescrowError
from pam_zescrow.printable import EscapingFilter, printable

from . import claim, custodian, escrow, inspect, recover, report, retry, setup, status

COMMANDS = [status.command, setup.command, escrow.command, inspect.command, claim.command,
            retry.command, recover.command, custodian.command, report.command]


def build_parser():
    parser = argparse.ArgumentParser(prog="zescrowctl", description=(
        "Back up the key of your eCryptfs private directory to an escrow server."))
    parser.add_argument("--version", action="version", version="zescrowctl " + __version__)
    parser.add_argument("--debug", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        p.add_argument("--format", choices=("text", "json"), default="text",
                       help="json: stable output for scripts")
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.debug:
        _setup_logging()
    try:
        return args.run(args, sys.stdout)
    except ZescrowError as err:
        _report(err, args.format)
        return err.exit_code
    except KeyboardInterrupt:
        print("zescrowctl: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the one place a surprise is caught: one line, or the traceback
        if args.debug:
            import logging

            logging.getLogger("zescrow.cli").exception("unexpected error in zescrowctl %s",
                                                       args.command)
        # Only the type: an unexpected exception's text is not vetted for secrets.
        print("zescrowctl: unexpected error (a bug: %s); run it again with --debug to see where, "
              "and report that" % type(err).__name__, file=sys.stderr)
        return 2


def _report(err, fmt):
    if fmt == "json":
        print(json.dumps(err.as_json(), indent=2))
    else:
        # printable: a message may carry a file name or a server's words.
        print("zescrowctl: error: %s" % printable(err.text), file=sys.stderr)
        print("  what to do: %s" % printable(err.hint_text), file=sys.stderr)


def _setup_logging():
    # Only with --debug: logs stay apart from what the command prints.
    import logging

    root = logging.getLogger("zescrow")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(EscapingFilter())
    handler.setFormatter(logging.Formatter("zescrowctl: %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def run():
    sys.exit(main())
