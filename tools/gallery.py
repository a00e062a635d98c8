#!/usr/bin/env python3
"""Write docs/zescrowctl.md from the status outputs a real test run recorded (make gallery)."""

import json
import sys

HEAD = """# zescrowctl

`zescrowctl COMMAND --help` describes every option; exit codes are in
[errors.md](errors.md).

| command | what |
|---|---|
| `status [--offline] [--format json]` | the server and pinned key; where this account stands — escrowed (time, checksum, key signature, whether the server verified it, its claim: URL and time left, or when it was claimed; a claim link that is not on the server's own address is refused and the address shown instead), waiting for upload, not enrolled, or not applicable (root and system accounts, accounts without an eCryptfs home), each with what to do; pending archives, the last error with its cause, next step and next retry; why the claim state may be stale (the server did not answer, or not as the contract says); whether zescrowd runs, or why that is unknown |
| `setup SERVER_URL [--fingerprint FPR] [--ca-file PEM] [--system] [--yes]` | fetch the server's key, check and show its fingerprint, pin it (asks unless given; without a terminal, give `--fingerprint` or `--yes`) in `~/.config/zescrow/` or, with `--system` (as root), `/etc/zescrow/` (0644 files in a 0755 folder, whatever the umask); the `--ca-file` is copied beside the config as `ca.pem`, so every user's zescrowd can read it |
| `escrow [--ecryptfs-dir DIR] [--password-fd N] [--open]` | the 2012 flow by hand: type the LOGIN password, upload now, print the claim URL |
| `inspect [--ecryptfs-dir DIR] [--password-fd N]` | what exactly would be escrowed, without sending anything |
| `claim [--print-only]` | open the claim URL of the last escrow again: only an `https://` link on the enrolled server's own scheme, host and port; any other is refused (exit 75, `claim-url-refused`) and the server's address shown instead |
| `retry` | upload what waits in the spool now, including archives the server refused |
| `recover ARCHIVE [--ecryptfs-dir DIR] [--show-passphrase] [--rewrap FILE]` | check a downloaded escrow, and get the data back with `ecryptfs-recover-private`; the archive and Private.sig must be regular files (a device, fifo or folder is refused: exit 44, `file-refused`) |

## `zescrowctl status`, state by state

Copied from a real run (`make gallery`: the test
`tests/daemon/test_zescrowctl.py::test_status_in_every_state` against the real
server, the claim made in Chromium through the OIDC provider).
"""


def main(path):
    gallery = json.load(open(path))
    parts = [HEAD]
    for title, output in gallery:
        parts.append("\n### %s\n\n```\n$ zescrowctl status\n%s```\n" % (title, output))
    sys.stdout.write("".join(parts))


if __name__ == "__main__":
    main(sys.argv[1])
