"""Server settings: one TOML file in the data folder, then environment variables.

Every setting is listed in docs/server.md. An environment variable
ZESCROW_SERVER_<NAME> (upper case) overrides the file for a plain
setting; OpenID Connect providers come only from the file ([[oidc]]
tables), as they carry secrets and several fields each.
"""

import os
import tomllib
from dataclasses import dataclass, field

from .errors import ServerConfigInvalid

CONFIG_NAME = "zescrow-server.toml"


@dataclass
class Provider:
    name: str  # short, in URLs: /login/<name>
    title: str  # shown on the login choice
    issuer: str
    client_id: str
    client_secret: str = ""


RECOVERY_MODES = ("server", "custodians")


@dataclass
class Settings:
    data_dir: str
    public_url: str = "https://127.0.0.1:8443"
    bind: str = "127.0.0.1:8443"
    database_url: str = ""  # default: SQLite in the data folder
    tls_cert: str = ""  # default: tls/cert.pem in the data folder, when it exists
    tls_key: str = ""
    plain_http: bool = False  # only behind a TLS-terminating reverse proxy
    workers: int = 2
    max_upload_bytes: int = 64 * 1024
    claim_window_seconds: int = 24 * 3600
    rate_limit_per_minute: int = 120  # uploads per client address, all nodes; 0: off
    max_unclaimed_escrows: int = 100_000  # all nodes together; 0: no cap
    max_unclaimed_bytes: int = 1024 ** 3
    trusted_proxies: list = field(default_factory=list)  # addresses or networks
    request_timeout_seconds: int = 10  # a request must be in within it (slowloris)
    download_max_age_seconds: int = 300  # a download needs a login this recent
    verify_workers: int = 1  # verification threads per server process
    # "server": sealed to this server's key, which verifies and hands them back;
    # "custodians": k of n custodians (init --custodians), this server cannot open them.
    recovery: str = "server"
    recovery_request_days: int = 7  # custodians mode: a recovery request is open this long
    # "open": anyone may upload (a public server); "required": only uploads vouched
    # for by an enrolled, unrevoked host (zescrow-server admin enrol-token create).
    enrolment: str = "open"
    # Who may see coverage and recover for others: entries "someone@example.org"
    # (the provider's email for the login) or "group:NAME" (in the ID token's or
    # userinfo's "groups" claim). An admin may do all a helpdesk member may.
    admins: list = field(default_factory=list)
    helpdesk: list = field(default_factory=list)
    helpdesk_approval_hours: int = 24  # an approved helpdesk request may be used this long
    helpdesk_pending_hours: int = 168  # … and an unanswered one may be approved this long
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "zescrow@localhost"
    oidc: list = field(default_factory=list)

    def path(self, *parts):
        return os.path.join(self.data_dir, *parts)

    @property
    def db_url(self):
        return self.database_url or "sqlite:///" + self.path("zescrow.db")

    @property
    def gnupg_home(self):
        return self.path("gnupg")

    @property
    def cert_file(self):
        return self.tls_cert or self.path("tls", "cert.pem")

    @property
    def key_file(self):
        return self.tls_key or self.path("tls", "key.pem")


def load(data_dir, environ=None):
    """The settings of the data folder; ServerConfigInvalid says which one is wrong, where."""
    environ = os.environ if environ is None else environ
    data_dir = os.path.abspath(data_dir)
    path = os.path.join(data_dir, CONFIG_NAME)
    values = _read(path)
    settings = Settings(data_dir=data_dir)
    plain = [name for name in Settings.__dataclass_fields__ if name not in ("data_dir", "oidc")]
    # A mistyped name would otherwise be ignored in silence, and its default used.
    unknown = sorted(set(values) - set(plain) - {"oidc"})
    if unknown:
        raise ServerConfigInvalid(source=path, reason="unknown setting %s" % ", ".join(unknown))
    for name in plain:
        variable = "ZESCROW_SERVER_" + name.upper()
        if variable in environ:
            raw, source = environ[variable], variable
        elif name in values:
            raw, source = values[name], path
        else:
            continue
        setattr(settings, name, _typed(raw, type(getattr(settings, name)), name, source))
    settings.oidc = _providers(values.get("oidc", []), path)
    if settings.recovery not in RECOVERY_MODES:
        raise ServerConfigInvalid(source=path, reason="setting recovery: %r is not one of %s"
                                  % (settings.recovery, ", ".join(RECOVERY_MODES)))
    if settings.enrolment not in ("open", "required"):
        raise ServerConfigInvalid(source=path, reason="setting enrolment: %r is not open or "
                                  "required" % settings.enrolment)
    for name in ("helpdesk_approval_hours", "helpdesk_pending_hours"):
        if not 1 <= getattr(settings, name) <= 24 * 30:
            raise ServerConfigInvalid(source=path, reason="setting %s: %d is not 1 to 720"
                                      % (name, getattr(settings, name)))
    if not 1 <= settings.recovery_request_days <= 365:
        raise ServerConfigInvalid(source=path, reason="setting recovery_request_days: %d is not "
                                  "1 to 365" % settings.recovery_request_days)
    return settings


def _read(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as err:
        raise ServerConfigInvalid(source=path, reason="it is not valid TOML: %s" % err) from None


def _typed(raw, kind, name, source):
    if kind is list and name in ("admins", "helpdesk"):
        return _members(raw, name, source)
    if kind is list:
        return _addresses(raw, name, source)
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ServerConfigInvalid(source=source, reason="setting %s: %r is not a %s" % (
            name, raw, kind.__name__)) from None


def _addresses(raw, name, source):
    """A list of IP addresses or networks: a TOML array, or "a, b" in a variable."""
    from .proxies import networks

    entries = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ServerConfigInvalid(source=source, reason="setting %s: %r is not a list of "
                                  "addresses" % (name, raw))
    entries = [e.strip() for e in entries if e.strip()]
    try:
        networks(entries)
    except ValueError as err:
        raise ServerConfigInvalid(source=source, reason="setting %s: %s" % (name, err)) from None
    return entries


def _members(raw, name, source):
    """A list of "email" or "group:NAME" entries: a TOML array, or "a, b" in a variable."""
    entries = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ServerConfigInvalid(source=source, reason="setting %s: %r is not a list of "
                                  "emails and group:NAME entries" % (name, raw))
    entries = [e.strip() for e in entries if e.strip()]
    for entry in entries:
        if not (entry.startswith("group:") and len(entry) > 6) and "@" not in entry:
            raise ServerConfigInvalid(source=source, reason="setting %s: %r is neither an "
                                      "email nor group:NAME" % (name, entry))
    return entries


def _providers(tables, path):
    try:
        return [Provider(**table) for table in tables]
    except TypeError:
        raise ServerConfigInvalid(source=path, reason="each [[oidc]] table takes name, title, "
                                  "issuer, client_id and client_secret") from None
