"""zescrowd, the per-user upload daemon — not built yet.

The spool it will read is built (pam_zescrow.spool); uploading, retries,
notifications and claim tracking are issue #5. Until then this entry point
says so plainly instead of pretending to work.
"""

import sys


def run():
    print("zescrowd: not built yet: sealed archives wait in the spool "
          "(/var/lib/zescrow/USER/spool) until the upload daemon lands (issue #5)",
          file=sys.stderr)
    sys.exit(2)
