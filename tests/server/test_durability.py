"""S8 on the server: killed with SIGKILL during a burst of uploads, it has lost
none that it answered 201 to, once restarted; and nothing stays unverified."""

import concurrent.futures
import threading
import time

import pytest

from tests.common.servers import ZescrowServer, free_port
from tests.server.conftest import upload

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_during_a_burst_loses_nothing_acknowledged(backend, request, key_home, tls_dir,
                                                           sealed):
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").create_database("zescrow_kill")
    server = ZescrowServer(free_port(), key_home, tls_dir, database_url=url,
                           rate_limit_per_minute=0)
    try:
        acknowledged, stop = [], threading.Event()

        def hammer():
            while not stop.is_set():
                try:
                    r = upload(server, sealed)
                except Exception:  # noqa: BLE001 — the server is being killed
                    continue
                if r.status_code == 201:
                    acknowledged.append(r.json())

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for _ in range(8):
                pool.submit(hammer)
            time.sleep(1.5)
            server.kill()  # SIGKILL to gunicorn and its workers, mid-burst
            stop.set()
        assert len(acknowledged) > 20, "the burst was too small to mean anything"
        print("acknowledged before the kill: %d" % len(acknowledged))
        server.start()
        s = server.session()
        lost = [c["id"] for c in acknowledged if s.get(
            "%s/api/v1/escrows/%s" % (server.url, c["id"]),
            headers={"Authorization": "Bearer " + c["upload_token"]}).status_code != 200]
        assert lost == []
        # The verification worker takes up what the crash left pending or running.
        deadline = time.monotonic() + 120
        for created in acknowledged:
            while True:
                state = s.get("%s/api/v1/escrows/%s" % (server.url, created["id"]), headers={
                    "Authorization": "Bearer " + created["upload_token"]}).json()
                if state["verification"] == "verified":
                    break
                assert state["verification"] == "pending", state
                assert time.monotonic() < deadline, "verification did not catch up"
                time.sleep(0.2)
    finally:
        server.close()
