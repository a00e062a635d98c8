"""A claim and a delete of the same upload at once: one of them wins, never both (#11, 8)."""

import concurrent.futures
import re
import threading

from tests.server.conftest import upload
from tests.server.login import signed_in

ROUNDS = 30


def test_a_claim_and_a_delete_at_once_never_both_succeed(server, sealed):
    owner = signed_in(server, "test", "jack-f8")
    deleter = server.session()
    csrf = None
    outcomes = []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _ in range(ROUNDS):
            created = upload(server, sealed).json()
            if csrf is None:
                csrf = re.search(r'name="csrf" value="([^"]+)"',
                                 owner.get(created["claim_url"]).text).group(1)
            start = threading.Barrier(2)

            def claim():
                start.wait()
                return owner.post(created["claim_url"], data={"csrf": csrf},
                                  allow_redirects=False, timeout=30)

            def delete():
                start.wait()
                return deleter.delete("%s/api/v1/escrows/%s" % (server.url, created["id"]),
                                      headers={"Authorization": "Bearer "
                                               + created["upload_token"]}, timeout=30)

            claimed, deleted = pool.submit(claim).result, pool.submit(delete).result
            claimed, deleted = claimed(), deleted()
            assert claimed.status_code < 500 and deleted.status_code < 500
            told_claimed = "claimed=" in claimed.headers.get("location", "")
            gone = deleted.status_code == 204
            outcomes.append((told_claimed, gone))
            assert not (told_claimed and gone), "round %d: told Claimed, and deleted" % len(
                outcomes)
            assert told_claimed or gone, (claimed.status_code, deleted.status_code, deleted.text)
            if told_claimed:
                assert deleted.status_code == 409 and deleted.json()["error"] == "already-claimed"
                assert created["sha256"][:16] in owner.get(server.url + "/").text
