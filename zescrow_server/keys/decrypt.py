"""Decrypting an upload: in a gpg process of its own, bounded in output, time and memory.

An OpenPGP message may hold compressed data: 840 bytes can unpack to
512 MiB of zeros (and the 64 KiB an upload may have, to ~50 GiB).
python-gnupg collects all of gpg's output in the calling process, so one
such upload swelled a server worker to over a gigabyte. Here gpg writes
into a pipe that is read up to `limit` bytes; at one byte more, gpg is
killed (it has then decompressed little more than the limit: it blocks on
the full pipe). gpg's own --max-output is not used: past it gpg stops
writing but goes on decompressing to the end, seconds of CPU for nothing.
The process also runs under a memory limit (prlimit: address space) and
a deadline, after which it is killed.

The gpg-agent that holds the key is started unlimited first (gpgconf
--launch), so it never inherits the limits of a decrypting gpg.
"""

import os
import select
import subprocess
import time

ADDRESS_SPACE = 256 * 1024 * 1024  # gpg needs under 64 MiB; a bomb gets no more
GPG = ["gpg", "--batch", "--no-tty", "--quiet", "--no-greeting", "--status-fd", "2",
       "--skip-verify", "--no-auto-key-retrieve", "--decrypt"]
REASONS = {"NO_SECKEY": "no secret key", "DECRYPTION_FAILED": "decryption failed",
           "NODATA": "no OpenPGP data", "BADMDC": "the message was altered"}


class DecryptFailed(Exception):
    """gpg could not decrypt it (the reason is gpg's, in words)."""


class PlaintextTooLarge(DecryptFailed):
    """The message decrypts to more than the limit."""


def decrypt(home, sealed, limit, timeout):
    """The plaintext of `sealed`, at most `limit` bytes, within `timeout` seconds."""
    launch_agent(home)
    deadline = time.monotonic() + timeout
    with _memory_file(sealed) as stdin, _memory_file(b"") as stderr:
        proc = subprocess.Popen(
            ["prlimit", "--as=%d" % ADDRESS_SPACE, "--"] + GPG[:1] + ["--homedir", home]
            + GPG[1:], stdin=stdin, stdout=subprocess.PIPE, stderr=stderr)
        try:
            plain = _read(proc.stdout, limit, deadline, timeout)
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise DecryptFailed("gpg did not finish within %g s" % timeout) from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        stderr.seek(0)
        status = stderr.read(64 * 1024).decode("utf-8", "replace")
    if proc.returncode != 0 or "[GNUPG:] DECRYPTION_OKAY" not in status:
        raise DecryptFailed(_reason(status, proc.returncode))
    return plain


def _read(pipe, limit, deadline, timeout):
    chunks, size, fd = [], 0, pipe.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise DecryptFailed("gpg did not finish within %g s" % timeout)
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise PlaintextTooLarge("it decrypts to more than %d bytes, far more than any "
                                    "eCryptfs key archive" % limit)
        chunks.append(chunk)


def _reason(status, returncode):
    for line in status.splitlines():
        words = line.split()
        if line.startswith("[GNUPG:] ") and len(words) > 1 and words[1] in REASONS:
            return REASONS[words[1]]
    lines = [l for l in status.splitlines() if l.strip() and not l.startswith("[GNUPG:]")]
    return lines[-1] if lines else "gpg ended with status %s" % returncode


_launched = set()


def launch_agent(home):
    """Start the key's gpg-agent once per process, outside any limits."""
    if home in _launched:
        return
    subprocess.run(["gpgconf", "--homedir", home, "--launch", "gpg-agent"],
                   capture_output=True, timeout=30)
    _launched.add(home)


class _memory_file:
    """A file in memory (memfd): gpg's input and its status lines never touch a disk."""

    def __init__(self, data):
        self.file = os.fdopen(os.memfd_create("zescrow-gpg", os.MFD_CLOEXEC), "w+b")
        self.file.write(data)
        self.file.seek(0)

    def __enter__(self):
        return self.file

    def __exit__(self, *exc):
        self.file.close()
