"""Shared fixtures: isolation, the shared vectors, real tools, real keys.

Tiers that need a tool or root skip with the reason — except under
`make test`, which installs everything and sets ZESCROW_TESTONLY_REQUIRE_ALL=1
so that a missing component fails the run instead of hiding in a skip.
"""

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT.parent / "shared" / "vectors"
sys.path.insert(0, str(ROOT))

from tests.common.gpgkeys import make_server_key  # noqa: E402

TOOLS = ["ecryptfs-wrap-passphrase", "ecryptfs-unwrap-passphrase", "ecryptfs-add-passphrase",
         "keyctl", "gpg", "gpgconf", "setpriv"]


def pytest_configure(config):
    # A run stopped with SIGTERM (CI's timeout, `kill`) tears down like Ctrl-C
    # does, so fixtures still remove their users, services and servers.
    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)


def pytest_report_header(config):
    missing = [t for t in TOOLS if not shutil.which(t)]
    return ["zescrow tiers: unit=yes, integration(real tools)=%s, root-only=%s" % (
        "yes" if not missing else "missing " + ", ".join(missing),
        "yes" if os.geteuid() == 0 else "no (not root)")]


def require(condition, reason):
    """Skip with a reason, or fail when the run must have every component."""
    if condition:
        return
    if os.environ.get("ZESCROW_TESTONLY_REQUIRE_ALL") == "1":
        pytest.fail("required for this run: " + reason)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No ZESCROW_* setting from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("ZESCROW_") and not name.startswith("ZESCROW_TESTONLY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home-of-test"))
    yield


@pytest.fixture(scope="session")
def manifest():
    require(VECTORS.is_dir(), "the shared vectors are not at %s" % VECTORS)
    return json.loads((VECTORS / "manifest.json").read_text())


@pytest.fixture(scope="session")
def vector_cases(manifest):
    return {case["name"]: case for case in manifest["cases"]}


@pytest.fixture
def real_tools():
    missing = [t for t in TOOLS if not shutil.which(t)]
    require(not missing, "real tools missing: " + ", ".join(missing))


@pytest.fixture(scope="session")
def server_key(tmp_path_factory):
    require(shutil.which("gpg"), "gpg is not installed")
    key = make_server_key(str(tmp_path_factory.mktemp("server-key")))
    yield key
    key.close()


@pytest.fixture(scope="session")
def other_key(tmp_path_factory):
    require(shutil.which("gpg"), "gpg is not installed")
    key = make_server_key(str(tmp_path_factory.mktemp("other-key")), "some other server")
    yield key
    key.close()
