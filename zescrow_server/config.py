"""Server settings: one TOML file in the data folder, then environment variables.

Every setting is listed in docs/server.md. An environment variable
ZESCROW_SERVER_<NAME> (upper case) overrides the file for a plain
setting; OpenID Connect providers come only from the file ([[oidc]]
tables), as they carry secrets and several fields each.
"""

import os
import tomllib
from dataclasses import dataclass, field

CONFIG_NAME = "zescrow-server.toml"


@dataclass
class Provider:
    name: str  # short, in URLs: /login/<name>
    title: str  # shown on the login choice
    issuer: str
    client_id: str
    client_secret: str = ""


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
    rate_limit_per_minute: int = 120  # uploads per client address; 0 turns it off
    download_max_age_seconds: int = 300  # a download needs a login this recent
    verify_workers: int = 1  # verification threads per server process
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
    environ = os.environ if environ is None else environ
    data_dir = os.path.abspath(environ.get("ZESCROW_SERVER_DATA_DIR") or data_dir)
    values = {}
    path = os.path.join(data_dir, CONFIG_NAME)
    if os.path.exists(path):
        with open(path, "rb") as f:
            values = tomllib.load(f)
    settings = Settings(data_dir=data_dir)
    for name, default in Settings.__dataclass_fields__.items():
        if name in ("data_dir", "oidc"):
            continue
        raw = environ.get("ZESCROW_SERVER_" + name.upper(), values.get(name))
        if raw is not None:
            setattr(settings, name, _typed(raw, type(getattr(settings, name)), name))
    settings.oidc = [Provider(**p) for p in values.get("oidc", [])]
    return settings


def _typed(raw, kind, name):
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ValueError("setting %s: %r is not a %s" % (name, raw, kind.__name__)) from None
