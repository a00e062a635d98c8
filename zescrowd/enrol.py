"""Choosing an escrow server: check its address, fetch its key, write the enrolment.

`zescrowctl setup` runs these in order. Every failure before the write is a
setup error that says what is wrong with what the administrator typed and
that nothing was changed; the upload errors (which say "zescrowd retries by
itself") are for the daemon, not for someone at a prompt.

The enrolment is public — every user's zescrowd reads the system one — so it
is written 0755/0644 whatever the caller's umask, and the CA file is copied
beside it: the administrator's copy may be under /root or in the server's
data folder, where users cannot read it.
"""

import os
import re
from urllib.parse import urlsplit

from pam_zescrow import defaults
from pam_zescrow.fsutil import atomic_write
from pam_zescrow.printable import printable

from . import http
from .errors import (SetupBadCaFile, SetupBadUrl, SetupCustodiansInvalid, SetupNotAServer,
                     SetupNotTls, SetupServerFailed, SetupTlsFailed, SetupUnreachable,
                     SetupUnwritable)
from .files import NotAFile, read_regular

TIMEOUT = (10, 30)  # connect, read
# Beside whichever config is written: /etc/zescrow/ or ~/.config/zescrow/.
KEY_NAME, CA_NAME = os.path.basename(defaults.SERVER_KEY), os.path.basename(defaults.CA_FILE)
CUSTODIANS_NAME = os.path.basename(defaults.CUSTODIANS_KEYS)


def check_url(text):
    """The server's base URL from what was typed, or SetupBadUrl saying why not."""
    parts = urlsplit(text.strip())
    rest = text.split("://", 1)[-1].split("/", 1)[0]
    reason = None
    if parts.scheme == "http":
        reason = "zescrow talks to escrow servers over verified TLS only, never plain http://"
    elif parts.scheme != "https" or not parts.hostname:
        reason = "it does not start with https://HOST"
    else:
        try:
            parts.port
        except ValueError:
            reason, rest = "its port is not a number from 1 to 65535", parts.hostname
    if reason:
        raise SetupBadUrl(url=text, reason=reason, suggestion="https://" + (rest or "HOST"))
    return "https://%s%s" % (parts.netloc, parts.path.rstrip("/"))


def read_ca(path):
    """The CA file's bytes, checked to be PEM certificates that TLS can use."""
    import ssl

    try:
        data = read_regular(path, http.MAX_CA_BYTES)
        ssl.create_default_context(cadata=data.decode("ascii"))
    except NotAFile as err:
        raise SetupBadCaFile(path=path, reason=err.reason) from None
    except OSError as err:
        raise SetupBadCaFile(path=path, reason=err.strerror or str(err)) from None
    except (UnicodeDecodeError, ValueError, ssl.SSLError):
        raise SetupBadCaFile(path=path, reason="it holds no PEM certificate") from None
    return data


def fetch(url, ca_file):
    """(the fingerprint the server publishes, normalized; its armored public key;
    the whole of /.well-known/zescrow.json, for recovery())."""
    from pam_zescrow import seal
    from pam_zescrow.errors import ServerKeyMismatch

    r = _get(url, "/.well-known/zescrow.json", ca_file)
    try:
        info = r.json()
        published = seal.normalize_fingerprint(str(info["fingerprint"]))
    except (ValueError, KeyError, TypeError, RecursionError, ServerKeyMismatch):
        raise SetupNotAServer(url=url, base=_base(url), reason="GET /.well-known/zescrow.json "
                              "answered HTTP %d without zescrow's JSON" % r.status_code) from None
    return published, _get(url, "/gpg.pub", ca_file).content, info


def recovery(url, ca_file, info):
    """None (server mode), or the custodians the server publishes in `info`
    (its well-known document), checked against /custodians.asc:
    {"threshold", "custodians": [{"fingerprint", "name"}], "keys": armored}."""
    from pam_zescrow import seal
    from pam_zescrow.errors import ZescrowError

    host = urlsplit(url).netloc
    mode = info.get("recovery", "server") if isinstance(info, dict) else None
    if mode == "server":
        return None
    if mode != "custodians":
        raise SetupCustodiansInvalid(host=host, reason="recovery %r is neither server nor "
                                     "custodians" % printable(str(mode)[:40]))
    threshold, members = info.get("threshold"), info.get("custodians")
    try:
        fingerprints = [seal.normalize_fingerprint(str(m["fingerprint"])) for m in members]
        names = [printable(str(m.get("name", "")))[:200] for m in members]
    except (TypeError, KeyError, AttributeError, ZescrowError):
        raise SetupCustodiansInvalid(host=host, reason="its custodians are not a list of "
                                     "fingerprints and names") from None
    n = len(fingerprints)
    from zescrow_core.custodians import threshold_fits

    if not threshold_fits(threshold, n) or len(set(fingerprints)) != n:
        raise SetupCustodiansInvalid(host=host, reason="a threshold of %r does not fit %d "
                                     "distinct custodians" % (threshold, n))
    keys = _get(url, "/custodians.asc", ca_file).content
    with seal.gnupg_home() as home:
        gpg = seal.open_gpg(home)
        for fingerprint in fingerprints:
            try:
                seal.import_pinned(gpg, keys, "/custodians.asc", fingerprint)
            except ZescrowError as err:
                raise SetupCustodiansInvalid(host=host, reason=err.text) from None
    return {"threshold": threshold, "keys": keys,
            "custodians": [{"fingerprint": f, "name": name} for f, name in zip(fingerprints,
                                                                              names)]}


def same_fingerprint(given, published):
    return "".join(given.split()).upper() == published


def _get(url, path, ca_file):
    host = urlsplit(url).netloc
    try:
        r = http.request("GET", url + path, verify=ca_file or True, timeout=TIMEOUT)
    except http.TooLarge as err:
        raise SetupNotAServer(url=url, base=_base(url), reason="GET %s answered more than %d "
                              "bytes" % (path, err.limit)) from None
    except http.NetworkError as err:
        if err.not_tls:
            raise SetupNotTls(host=host, reason=err.reason) from None
        if err.tls:
            raise SetupTlsFailed(host=host, reason=err.reason, url=url) from None
        raise SetupUnreachable(host=host, reason=err.reason) from None
    if r.status_code >= 500 or r.status_code == 429:
        raise SetupServerFailed(host=host, status=r.status_code,
                                reason=printable(r.text.strip()[:200]))
    if r.status_code >= 300:
        raise SetupNotAServer(url=url, base=_base(url), reason="GET %s answered HTTP %d"
                              % (path, r.status_code))
    return r


def _base(url):
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc)


def register_host(url, ca_file, token, key_path):
    """Enrol this machine: its host key (made once, root's only), registered with `token`.
    Returns {"host", "name"} from the server, checked."""
    import json
    import socket

    from zescrow_core import hostkey

    from .errors import SetupEnrolmentRefused

    host = urlsplit(url).netloc
    os.makedirs(os.path.dirname(key_path), mode=0o755, exist_ok=True)
    try:
        public = hostkey.load_public(key_path)  # enrolled before: the same key again
    except FileNotFoundError:
        public = hostkey.generate(key_path)
    except (OSError, ValueError) as err:
        raise SetupEnrolmentRefused(host=host, reason="the host key %s cannot be read (%s); "
                                    "remove it to make a new one" % (key_path, err)) from None
    body = json.dumps({"token": token, "name": socket.gethostname(),
                       "public_key": public}).encode()
    try:
        r = http.request("POST", url + "/api/v1/hosts", body=body,
                         headers={"Content-Type": "application/json"},
                         verify=ca_file or True, timeout=TIMEOUT, max_body=64 * 1024)
    except http.NetworkError as err:
        raise SetupUnreachable(host=host, reason=err.reason) from None
    try:
        doc = r.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise SetupEnrolmentRefused(host=host, reason="HTTP %d, and no JSON answer"
                                    % r.status_code)
    if r.status_code != 201:
        message = doc.get("message") if isinstance(doc.get("message"), str) else "no reason"
        raise SetupEnrolmentRefused(host=host, reason="HTTP %d: %s" % (
            r.status_code, printable(message[:300])))
    ident, name = doc.get("host"), doc.get("name")
    if not isinstance(ident, str) or not re.fullmatch(r"[0-9a-f]{16}", ident) or \
            not isinstance(name, str):
        raise SetupEnrolmentRefused(host=host, reason="the answer names no host id")
    return {"host": ident, "name": printable(name[:255]), "key_file": key_path}


def write(conf_path, url, fingerprint, key_data, ca_data, system, custodians=None, host=None):
    """Write the key, the CA (when given), the custodians' keys (custodians
    mode), and then the config that names them."""
    folder = os.path.dirname(os.path.abspath(conf_path))
    lines = ["[server]", "url = %s" % url, "fingerprint = %s" % fingerprint,
             "key_file = %s" % os.path.join(folder, KEY_NAME)]
    if ca_data is not None:
        lines.append("ca_file = %s" % os.path.join(folder, CA_NAME))
    if custodians is not None:  # pinned: the hook seals to these, whatever the server says later
        lines += ["recovery = custodians", "threshold = %d" % custodians["threshold"],
                  "custodians = %s" % ", ".join(c["fingerprint"]
                                                for c in custodians["custodians"]),
                  "custodians_file = %s" % os.path.join(folder, CUSTODIANS_NAME)]
    if host is not None:  # enrolled with a token: the hook signs each user's voucher with it
        lines += ["", "[host]", "id = %s" % host["host"], "key_file = %s" % host["key_file"]]
    old_umask = os.umask(0o022)
    try:
        os.makedirs(folder, mode=0o755 if system else 0o700, exist_ok=True)
        if system:  # a folder left 0750 by an earlier run would fail every login
            os.chmod(folder, 0o755)
        atomic_write(os.path.join(folder, KEY_NAME), key_data, 0o644)
        if ca_data is not None:
            atomic_write(os.path.join(folder, CA_NAME), ca_data, 0o644)
        if custodians is not None:
            atomic_write(os.path.join(folder, CUSTODIANS_NAME), custodians["keys"], 0o644)
        atomic_write(conf_path, ("\n".join(lines) + "\n").encode(), 0o644)
    except OSError as err:
        raise SetupUnwritable(path=conf_path, folder=folder,
                              reason=err.strerror or str(err)) from None
    finally:
        os.umask(old_umask)
