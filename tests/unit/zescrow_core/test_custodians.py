"""Custodians mode with three real gpg custodian keys and k = 2: any two open
an escrow, one cannot, the server's key opens nothing, and the server's
structure check refuses what does not match what it publishes."""

import itertools
import json
import subprocess

import pytest

from tests.common.gpgkeys import make_server_key
from tests.conftest import require
from zescrow_core import custodians as cust
from zescrow_core.errors import ContainerInvalid, ShareInvalid, ThresholdNotMet

OWNER = {"user": "alice", "host": "testbox"}
ARCHIVE = b"\x1f\x8b a stand-in for the gzip'd tar of ~/.ecryptfs \x00\xff" * 20


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    require(subprocess.run(["which", "gpg"], capture_output=True).returncode == 0, "gpg")
    folder = tmp_path_factory.mktemp("custodians")
    made = [make_server_key(str(folder), "custodian %s" % name) for name in "abc"]
    yield made
    for key in made:
        key.close()


def _key_ids(key):
    """The custodian's encryption subkey IDs, as the server lists them at init."""
    listing = key.gpg("--with-colons", "--list-keys").stdout.decode()
    return {line.split(":")[4] for line in listing.splitlines()
            if line.startswith("sub:") and "e" in line.split(":")[11]}


def _encrypt_to(keys):
    by_fpr = {key.fingerprint: key for key in keys}

    def encrypt(fingerprint, data):
        # Sealed with the custodian's public key only, as a client does.
        proc = by_fpr[fingerprint].gpg("--encrypt", "--trust-model", "always", "--recipient",
                                       fingerprint, input=bytes(data))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    return encrypt


def _share_of(container, key):
    """What a custodian does: decrypt their own share with their own gpg."""
    doc = json.loads(container)
    [sealed] = [s for s in doc["shares"] if s["custodian"] == key.fingerprint]
    import base64

    return cust.open_share(key.decrypt(base64.b64decode(sealed["sealed"])))


@pytest.fixture(scope="module")
def container(keys):
    return cust.seal(ARCHIVE, [k.fingerprint for k in keys], 2, _encrypt_to(keys), OWNER)


def test_any_two_custodians_open_it(keys, container):
    for pair in itertools.combinations(keys, 2):
        shares = [_share_of(container, key) for key in pair]
        assert cust.combine(container, shares) == ARCHIVE


def test_one_custodian_alone_opens_nothing(keys, container):
    with pytest.raises(ThresholdNotMet):
        cust.combine(container, [_share_of(container, keys[0])])
    # the same share twice is still one custodian
    share = _share_of(container, keys[1])
    with pytest.raises(ThresholdNotMet):
        cust.combine(container, [share, share])


def test_a_share_of_another_escrow_is_refused(keys, container):
    other = cust.seal(ARCHIVE, [k.fingerprint for k in keys], 2, _encrypt_to(keys), OWNER)
    with pytest.raises(ShareInvalid, match="another escrow"):
        cust.combine(container, [_share_of(container, keys[0]), _share_of(other, keys[1])])


def test_a_changed_header_breaks_the_seal(keys, container):
    doc = json.loads(container)
    doc["threshold"] = 3  # claims more custodians are needed: the tag no longer matches
    forged = json.dumps(doc).encode()
    shares = [_share_of(container, key) for key in keys]
    with pytest.raises(ShareInvalid, match="do not open"):
        cust.combine(forged, shares)


def test_the_server_key_opens_no_share(keys, container, server_key):
    import base64

    for share in json.loads(container)["shares"]:
        proc = server_key.gpg("--decrypt", input=base64.b64decode(share["sealed"]))
        assert proc.returncode != 0 and proc.stdout == b""
    assert ARCHIVE not in container and ARCHIVE.hex().encode() not in container


def test_the_servers_check_accepts_what_it_publishes(keys, container):
    published = [(k.fingerprint, _key_ids(k)) for k in keys]
    doc = cust.check(container, 2, published)
    assert doc["threshold"] == 2 and len(doc["shares"]) == 3


@pytest.mark.parametrize("change, reason", [
    ("threshold", "threshold is 2"),
    ("order", "not the ones this server publishes"),
    ("swap-share", "not sealed to that custodian"),
    ("drop-share", "one share per custodian"),
    ("not-json", "not JSON"),
    ("version", "version 2"),
])
def test_the_servers_check_refuses_what_does_not_match(keys, container, change, reason):
    published = [(k.fingerprint, _key_ids(k)) for k in keys]
    threshold = 2
    doc = json.loads(container)
    if change == "threshold":
        threshold = 3
    elif change == "order":
        published = published[::-1]
    elif change == "swap-share":
        doc["shares"][0]["sealed"], doc["shares"][1]["sealed"] = \
            doc["shares"][1]["sealed"], doc["shares"][0]["sealed"]
    elif change == "drop-share":
        doc["shares"].pop()
    elif change == "version":
        doc["version"] = 2
    data = b"{not json" if change == "not-json" else json.dumps(doc).encode()
    with pytest.raises(ContainerInvalid, match=reason):
        cust.check(data, threshold, published)


def test_a_share_never_shows_its_value(keys, container):
    share = _share_of(container, keys[0])
    assert share.value.hex() not in repr(share) and "hidden" in repr(share)
