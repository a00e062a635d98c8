"""zescrowctl setup, as an administrator enrols a machine: the CA where users can
read it, modes that do not depend on the umask, and errors that fit setup."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from tests.common.servers import free_port, wait_until

pytestmark = pytest.mark.root


def test_setup_system_copies_the_ca_where_every_user_can_read_it(world, tmp_path):
    admins_ca = tmp_path / "admin-only" / "ca.pem"  # like /root/ca.pem: only root gets in
    admins_ca.parent.mkdir(mode=0o700)
    shutil.copy(world.server.ca, admins_ca)
    r = world.run(None, "setup", world.server.url, "--system", "--ca-file", str(admins_ca),
                  "--fingerprint", world.fingerprint)
    assert r.returncode == 0, r.stderr
    copied = world.machine.etc / "ca.pem"
    assert copied.read_bytes() == admins_ca.read_bytes()
    assert stat.S_IMODE(copied.stat().st_mode) == 0o644
    assert "ca_file = %s" % copied in world.machine.conf.read_text()
    # A user's upload with the system enrolment now verifies the server's certificate.
    user = world.machine.add_user(b"setup test password", b"1a" * 16)
    from pam_zescrow import pipeline

    setup = world.machine.base / user / "home" / ".ecryptfs"
    pipeline.escrow(pipeline.prepare(str(setup), b"setup test password"),
                    str(world.machine.etc / "server-key.asc"), world.fingerprint,
                    str(world.machine.state_dir / user / "spool"), user,
                    server_url=world.server.url)
    subprocess.run(["chown", "-R", "%s:%s" % (user, user),
                    str(world.machine.state_dir / user)], check=True)
    r = world.run(user, "retry")
    assert r.returncode == 0 and "not claimed yet" in r.stdout, r.stdout + r.stderr


def test_setup_system_modes_do_not_depend_on_the_umask(world):
    conf = world.machine.base / "etc-zescrow" / "zescrow.conf"  # not made yet, like /etc/zescrow
    env = {"PATH": os.environ["PATH"], "ZESCROW_CONF": str(conf), "HOME": str(world.root_home)}
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "zescrowctl"), "setup",
                        world.server.url, "--system", "--ca-file", str(world.ca),
                        "--fingerprint", world.fingerprint], env=env, capture_output=True,
                       text=True, timeout=60, preexec_fn=lambda: os.umask(0o027))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(conf.parent.stat().st_mode) == 0o755
    for name in ("zescrow.conf", "server-key.asc", "ca.pem"):
        assert stat.S_IMODE((conf.parent / name).stat().st_mode) == 0o644, name


@pytest.fixture
def plain_http_port():
    """A real plain-HTTP server on a port, as a server behind a TLS proxy listens."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="zescrow-http-")
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             str(port)], cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        import socket

        wait_until(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
                   20, "http.server")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_setup_errors_say_what_is_wrong_and_what_to_do(world, plain_http_port):
    url, fpr, ca = world.server.url, world.fingerprint, str(world.ca)
    host = url.split("://")[1]
    cases = [
        # (arguments, words the error must have)
        (("https://127.0.0.1:%d" % free_port(), "--ca-file", ca), ["cannot reach", "runs"]),
        (("http://" + host, "--ca-file", ca), ["https://", "zescrowctl setup https://" + host]),
        ((url + "/claim/abc", "--ca-file", ca), ["not the address of a zescrow server",
                                                 "zescrowctl setup %s " % url]),
        ((url, "--ca-file", ca, "--fingerprint", "0" * 40),
         ["you gave", "administrator", fpr]),
        (("https://127.0.0.1:%d" % plain_http_port, "--ca-file", ca),
         ["plain HTTP", "HTTPS port"]),
        ((url,), ["certificate verify failed", "--ca-file"]),
        ((url, "--ca-file", ca), ["no terminal", "--fingerprint", "--yes"]),
    ]
    for args, words in cases:
        r = world.run(None, "setup", *args)
        assert r.returncode >= 3 and r.stderr.startswith("zescrowctl: error: "), (args, r)
        assert "retries by itself" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        for word in words:
            assert word in r.stderr, (args, word, r.stderr)
        assert "nothing was changed" in r.stderr.lower(), r.stderr
        assert not (world.root_home / ".config").exists()
