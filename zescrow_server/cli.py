"""zescrow-server — not built yet (issue #3); says so instead of pretending."""

import sys


def run():
    print("zescrow-server: not built yet: the escrow server is issue #3",
          file=sys.stderr)
    sys.exit(2)
