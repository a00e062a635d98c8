"""The declarative shape of a zescrow-server subcommand.

add_arguments(parser) adds its options; run(args) does the work and
returns the exit code.
"""

from collections import namedtuple

Command = namedtuple("Command", "name help add_arguments run")
