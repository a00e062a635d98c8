"""Two `zescrow-server serve` nodes on one PostgreSQL behind a real haproxy (docs/server.md,
"Running several nodes"): the whole story goes through the load balancer.

Each node has its own data folder with the same server key (gnupg/), the
same session.key and the same settings but its bind; haproxy terminates
TLS, adds X-Forwarded-For, connects to the nodes over TLS from 127.0.0.2 —
the one proxy the nodes trust — and says in X-Served-By which node
answered. A request with X-Zescrow-Node: n1 or n2 goes to that node, so
that the browser can sign in through one node and download through the
other.
"""

import concurrent.futures
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time

import pytest
import requests

from tests.common.servers import OidcProvider, ZescrowServer, free_port, wait_until
from tests.conftest import require
from tests.server.browser import CHROMIUM, Browser, oidc_login
from tests.server.conftest import MOUNT
from tests.server.test_limits import session_from

pytestmark = pytest.mark.slow
PROXY = "127.0.0.2"  # haproxy's source address towards the nodes
CAP = 60  # max_unclaimed_escrows, for both nodes together
HAPROXY = """global
    maxconn 4000
defaults
    mode http
    option forwardfor
    retries 2
    option redispatch
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
frontend escrow
    bind 127.0.0.1:{port} ssl crt {pem}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /.well-known/zescrow.json
    timeout check 5s
    http-response set-header X-Served-By %[srv_name]
    use-server n1 if {{ req.hdr(x-zescrow-node) -m str n1 }}
    use-server n2 if {{ req.hdr(x-zescrow-node) -m str n2 }}
    default-server ssl verify required ca-file {ca} source {proxy} check inter 300ms fall 2
    server n1 127.0.0.1:{n1}
    server n2 127.0.0.1:{n2}
"""


class Node(ZescrowServer):
    """A node: its own data folder, but the cluster's public URL and session secret.

    Made with init only; start() when the first node's init has migrated the
    database (two inits migrating at once would race)."""

    def __init__(self, port, public_url, secret, **kwargs):
        self.public_url, self.secret, self.ready = public_url, secret, False
        super().__init__(port, **kwargs)
        self.ready = True

    def start(self):
        if not self.ready:
            return
        conf = self.data / "zescrow-server.toml"
        conf.write_text(re.sub(r"^public_url = .*$", 'public_url = "%s"' % self.public_url,
                               conf.read_text(), flags=re.M))
        (self.data / "session.key").write_text(self.secret)
        super().start()


class Balancer:
    def __init__(self, tls_dir, nodes, port):
        self.port = port
        self.url = "https://127.0.0.1:%d" % self.port
        self.ca = os.path.join(tls_dir, "ca.pem")
        self.dir = tempfile.mkdtemp(prefix="zlb-")
        pem = os.path.join(self.dir, "crt.pem")
        with open(pem, "w") as f:
            for name in ("cert.pem", "key.pem"):
                f.write(open(os.path.join(tls_dir, name)).read())
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY.format(port=self.port, pem=pem, ca=self.ca, proxy=PROXY,
                                   n1=nodes[0].port, n2=nodes[1].port))
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.served_by() == {"n1", "n2"}, 20, "haproxy and both nodes")

    def session(self):
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        return s

    def served_by(self, tries=6):
        s = self.session()
        return {s.get(self.url + "/.well-known/zescrow.json", timeout=5)
                .headers.get("X-Served-By") for _ in range(tries)}

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def junk(server_pub):
    """Sealed to the server's key, but no archive: its check fails at once, cheaply."""
    from pam_zescrow import seal

    return seal.seal(b"not an archive", *server_pub)


@pytest.fixture(scope="module")
def cluster(request, key_home, tls_dir, postgres):
    require(shutil.which("haproxy"), "haproxy is not installed (make deps)")
    require(os.path.exists(CHROMIUM), "Debian's chromium is not installed")
    lb_port = free_port()
    public_url = "https://127.0.0.1:%d" % lb_port
    pool = concurrent.futures.ThreadPoolExecutor(2)
    provider = pool.submit(OidcProvider, [public_url + "/auth/test/callback"])
    url = postgres.create_database("zescrow_nodes")
    secret = "cluster-" + os.urandom(24).hex() + "\n"
    nodes, balancer = [], None

    def node():
        nodes.append(Node(free_port(), public_url, secret, key_home=key_home,
                          tls_dir=tls_dir, database_url=url, oidc=provider.result(),
                          rate_limit_per_minute=60, max_unclaimed_escrows=CAP,
                          trusted_proxies=[PROXY]))
        return nodes[-1]

    try:
        first = node()  # its init migrates the database
        for done in [pool.submit(first.start), pool.submit(lambda: node().start())]:
            done.result()
        balancer = Balancer(tls_dir, nodes, lb_port)
        yield balancer, nodes, url
    finally:
        if balancer:
            balancer.close()
        for each in nodes:
            each.close()
        provider.result().close()
        pool.shutdown()


def _upload(lb, address, sealed, node=None):
    headers = {"Content-Type": "application/pgp-encrypted", "X-Zescrow-Host": "node-test",
               "X-Forwarded-For": "<script>, 6.6.6.6"}  # a client's own: never believed
    if node:
        headers["X-Zescrow-Node"] = node
    return session_from(lb, address).post(lb.url + "/api/v1/escrows", data=sealed,
                                          headers=headers, timeout=30)


def _status(lb, created):
    return lb.session().get("%s/api/v1/escrows/%s" % (lb.url, created["id"]), timeout=10,
                            headers={"Authorization": "Bearer " + created["upload_token"]})


def _sql(url, query, *args):
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


def _address(i):
    return "127.1.%d.%d" % (i // 250, i % 250 + 1)


def test_two_nodes_behind_haproxy_tell_one_story(cluster, sealed, junk, tls_dir):
    lb, nodes, url = cluster
    pool = concurrent.futures.ThreadPoolExecutor(16)

    # Uploads spread over both nodes; each row verified once, by one of four verifiers.
    answers = list(pool.map(lambda i: _upload(lb, _address(i), sealed), range(24)))
    assert [r.status_code for r in answers] == [201] * 24, [r.text for r in answers]
    assert {r.headers["X-Served-By"] for r in answers} == {"n1", "n2"}
    spread = [r.json() for r in answers]
    deadline = time.monotonic() + 30
    while any(_status(lb, c).json()["verification"] == "pending" for c in spread):
        assert time.monotonic() < deadline, "verification did not catch up"
        time.sleep(0.3)
    assert {_status(lb, c).json()["verification"] for c in spread} == {"verified"}
    attempts = dict(_sql(url, "SELECT id, verification_attempts FROM escrows WHERE id = ANY(%s)",
                         [c["id"] for c in spread]))
    assert set(attempts.values()) == {1}, attempts
    # The audit log has the client's address, from haproxy's X-Forwarded-For, not its own.
    sources = dict(_sql(url, "SELECT escrow_id, source FROM audit_events WHERE action = "
                        "'upload' AND escrow_id = ANY(%s)", [c["id"] for c in spread]))
    assert sorted(sources.values()) == sorted(_address(i) for i in range(24))
    # Straight from the proxy's address, the header is believed; if it is no address,
    # the proxy is misconfigured and the request refused, not filed under a wrong one.
    node = nodes[0]
    direct = session_from(node, PROXY).post(node.url + "/api/v1/escrows", data=sealed, headers={
        "Content-Type": "application/pgp-encrypted", "X-Forwarded-For": "198.51.100.7"})
    assert direct.status_code == 201, direct.text
    assert _sql(url, "SELECT source FROM audit_events WHERE escrow_id = %s",
                direct.json()["id"]) == [("198.51.100.7",)]
    bad = session_from(node, PROXY).post(node.url + "/api/v1/escrows", data=sealed, headers={
        "Content-Type": "application/pgp-encrypted", "X-Forwarded-For": "<script>"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid-request", bad.text

    # One address, both nodes: one bucket (a burst of 15, then one a second).
    t0 = time.monotonic()
    burst = list(pool.map(lambda i: _upload(lb, "127.0.3.1", junk), range(40)))
    codes = [r.status_code for r in burst]
    assert 15 <= codes.count(201) <= 15 + int(time.monotonic() - t0) + 1, codes
    assert set(codes) == {201, 429}
    assert {r.headers["X-Served-By"] for r in burst if r.status_code == 429} == {"n1", "n2"}
    kept = [r.json() for r in burst if r.status_code == 201]

    # The cap on unclaimed escrows holds for both nodes together.
    (unclaimed,), = _sql(url, "SELECT count(*) FROM escrows WHERE claimed_at IS NULL")
    room = CAP - unclaimed
    assert room > 0
    fill = list(pool.map(lambda i: _upload(lb, _address(i), junk), range(100, 120 + room)))
    codes = [r.status_code for r in fill]
    assert codes.count(201) == room and codes.count(507) == 20, [
        (r.status_code, r.text) for r in fill if r.status_code not in (201, 507)]
    assert {r.headers["X-Served-By"] for r in fill if r.status_code == 507} == {"n1", "n2"}
    assert _sql(url, "SELECT count(*) FROM escrows WHERE claimed_at IS NULL") == [(CAP,)]
    assert _sql(url, "SELECT escrows FROM quota_usage") == [(CAP,)]
    kept += [r.json() for r in fill if r.status_code == 201]

    # A claim signs in through node 1 and downloads through node 2; it makes room for one.
    browser = Browser(os.path.join(tls_dir, "ca.pem"))
    try:
        _claim_on_one_download_on_other(browser, spread[0])
    finally:
        browser.close()
    assert _upload(lb, _address(300), junk).status_code == 201
    assert _upload(lb, _address(301), junk).status_code == 507

    # Deletions through either node make room again; then node 2 is killed mid-burst,
    # and nothing either node answered 201 to is lost.
    deleted = list(pool.map(lambda c: lb.session().delete(
        "%s/api/v1/escrows/%s" % (lb.url, c["id"]), timeout=10,
        headers={"Authorization": "Bearer " + c["upload_token"]}), kept))
    assert {r.status_code for r in deleted} == {204}
    acknowledged, stop, counter, lock = [], threading.Event(), [1000], threading.Lock()

    def hammer():
        while not stop.is_set():
            with lock:
                counter[0] += 1
                i = counter[0]
            try:
                r = _upload(lb, _address(i), junk)
            except requests.RequestException:
                continue
            if r.status_code == 201:
                acknowledged.append((r.headers["X-Served-By"], r.json()))

    hammers = [pool.submit(hammer) for _ in range(8)]
    time.sleep(0.7)
    nodes[1].kill()
    time.sleep(0.7)
    stop.set()
    for h in hammers:
        h.result()
    assert {node for node, _ in acknowledged} == {"n1", "n2"}, len(acknowledged)
    lost = [c["id"] for _, c in acknowledged if _status(lb, c).status_code != 200]
    assert lost == []
    pool.shutdown()


def _claim_on_one_download_on_other(browser, created):
    ctx = browser.context()
    served = []
    page = ctx.new_page()
    page.on("response", lambda r: served.append((r.url, r.headers.get("x-served-by"))))
    ctx.set_extra_http_headers({"X-Zescrow-Node": "n1"})
    page.goto(created["claim_url"])
    page.click("#login-test")
    oidc_login(page, "nodes-alice")
    page.wait_for_selector("#claim")
    page.click("#claim")
    page.wait_for_selector("#claimed")
    callbacks = {node for u, node in served if "/auth/test/callback" in u}
    assert callbacks == {"n1"}, served
    ctx.set_extra_http_headers({"X-Zescrow-Node": "n2"})
    served.clear()
    with page.expect_download() as info:
        page.click("#download-%s" % created["id"])
    assert {node for u, node in served if "/download" in u} == {"n2"}, served
    data = open(info.value.path(), "rb").read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        passphrase = tar.extractfile(".ecryptfs/unwrapped-passphrase").read()
    assert passphrase == MOUNT + b"\n"
    ctx.close()
