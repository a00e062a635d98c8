#!/usr/bin/env python3
"""make demo: the part of the escrow story that is built, with the real tools.

Until the end-to-end issue lands this shows steps 3–7 of the pipeline on a
throwaway eCryptfs key setup: what `zescrowctl inspect` says, the sealed
archive in a spool, and what the escrow server will find when it opens
it. It says plainly what is still to come. Nothing outside a temporary
folder is touched, and that folder is removed at the end.
"""

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pam_zescrow import pipeline, verify  # noqa: E402
from pam_zescrow.secret import Secret  # noqa: E402
from tests.common.ecryptfs_tools import make_setup, real_add_passphrase  # noqa: E402
from tests.common.gpgkeys import make_server_key  # noqa: E402


def say(step, text):
    print("\n\033[1m%s. %s\033[0m" % (step, text), flush=True)


def main():
    work = Path(tempfile.mkdtemp(prefix="zescrow-demo-"))
    key = None
    try:
        login = b"demo-" + secrets.token_hex(4).encode()
        mount = secrets.token_hex(16).encode()
        say(1, "A throwaway eCryptfs key setup, made with the real ecryptfs-utils")
        setup = make_setup(work, mount, login)
        print("   %s -> %s" % (setup, os.readlink(setup)))
        print("   wrapped-passphrase by ecryptfs-wrap-passphrase; the kernel keyring "
              "(ecryptfs-add-passphrase) gives signature %s" % real_add_passphrase(mount))
        print("   Private.sig: %s" % " ".join((setup / "Private.sig").read_text().split()))

        say(2, "A stand-in escrow server key (gpg); the real server is still to come")
        key = make_server_key(str(work))
        print("   pinned fingerprint %s" % key.fingerprint)

        say(3, "zescrowctl inspect: what exactly would be backed up?")
        zescrowctl = Path(sys.executable).parent / "zescrowctl"
        subprocess.run([str(zescrowctl), "inspect", "--ecryptfs-dir", str(setup),
                        "--password-fd", "0"], input=login, check=True)

        say(4, "Unwrap, verify, archive, seal to the pinned key, spool")
        with Secret(login) as password:
            prepared = pipeline.prepare(str(setup), password)
        entry = pipeline.escrow(prepared, key.public_path, key.fingerprint,
                                str(work / "spool"), "demo")
        for path in sorted((work / "spool").iterdir()):
            print("   %s  %d bytes, mode %o" % (path.name, path.stat().st_size,
                                                path.stat().st_mode & 0o777))
        print("   metadata: " + json.dumps({k: entry.meta[k] for k in (
            "user", "host", "created", "sha256", "key_signature")}))

        say(5, "What the escrow server will find when it decrypts the archive")
        sealed = Path(entry.sealed_path).read_bytes()
        with tarfile.open(fileobj=io.BytesIO(key.decrypt(sealed)), mode="r:gz") as tar:
            for member in tar.getmembers():
                print("   %04o %5d  %s" % (member.mode, member.size, member.name))
            unwrapped = tar.extractfile(".ecryptfs/unwrapped-passphrase").read().strip()
        with Secret(unwrapped) as recovered:
            sig = verify.verify(prepared.setup, recovered).fekek_sig
        print("   its unwrapped-passphrase matches Private.sig (%s): the backup works" % sig)

        say(6, "Still to come")
        print("   - the PAM hook that does step 4 by itself at login (issue #4)")
        print("   - the escrow server, the claim through OpenID Connect (issue #3)")
        print("   - zescrowd: upload, desktop notification, zescrowctl status (issue #5)")
        print("   - Debian packages and this demo end to end in a browser (issue #6)")
        return 0
    finally:
        if key is not None:
            key.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
