"""schemathesis over the server's own OpenAPI schema: no 5xx, no answer that breaks it."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server):
    if server.backend != "sqlite":
        pytest.skip("once is enough: the API code is the same on both databases")
    cli = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    proc = subprocess.run(
        [cli, "run", server.url + "/openapi.json", "--tls-verify", server.ca,
         "--checks", "not_a_server_error,response_schema_conformance,"
         "status_code_conformance,content_type_conformance",
         "--max-examples", "40", "--request-timeout", "20", "--no-color"],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, SCHEMATHESIS_HOOKS="", NO_COLOR="1"))
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert "passed" in tail.lower() or "no issues found" in tail.lower(), tail
