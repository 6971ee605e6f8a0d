"""Settings, one small class per concern, all read from ``DIMING_*`` environment variables.

Nothing here is instantiated at import time: ``load_settings()`` is called by the CLI and tests and the
result is passed to ``create_app(settings)``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_api.limits import LimitSettings

CHECKOUT = Path(__file__).resolve().parent.parent


def default_home() -> Path:
    """Where this checkout keeps its state (embedded cluster, admin credentials).

    As root the cluster must live where the unprivileged server user can reach it; ``/root`` is not
    traversable by other users, so root's state goes under ``/var/lib/diming/<checkout hash>``.
    """
    if os.geteuid() == 0:
        digest = hashlib.sha1(str(CHECKOUT).encode()).hexdigest()[:12]
        return Path("/var/lib/diming") / digest
    return CHECKOUT / ".diming"


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="Use this PostgreSQL/PostGIS server instead of the embedded cluster."
    )
    home: Path = Field(default_factory=default_home, description="State directory of this checkout.")
    pg_bindir: Path | None = Field(default=None, description="Directory holding initdb/pg_ctl.")
    db_name: str = "diming"
    pool_size: int = Field(
        default=10, ge=1, le=500,
        description="SQLAlchemy connections per server process, and as many again under bursts (the sync routes: "
                    "search, writes, lists); each is opened when first needed and then kept. Budget: "
                    "docs/operations.md, 'Connection budget'.")
    reserved_connections: int = Field(
        default=10, ge=0, le=10_000,
        description="Connections of max_connections that diming serve leaves to others (CLI, backups, psql) on top of "
                    "superuser_reserved_connections; serve shrinks its pools to fit the rest, or refuses.")
    wal_archive: Path | None = Field(
        default=None, description="Embedded cluster: archive WAL and keep base backups in this directory."
    )
    wal_archive_timeout_s: int = Field(
        default=60, ge=10, le=86_400, description="Force a WAL segment switch after this many idle seconds."
    )
    read_replica_urls: str = Field(
        default="",
        description="Comma-separated URLs of PostgreSQL hot standbys (streaming replicas of the primary) that "
                    "serve reads; empty = every read on the primary.",
    )
    replica_max_lag_s: float = Field(
        default=10.0, gt=0, le=3600, description="A replica further behind the primary than this leaves rotation."
    )
    replica_check_interval_s: float = Field(
        default=1.0, gt=0, le=300, description="How often each replica's health and replay position are checked."
    )

    def replica_urls(self) -> list[str]:
        """``DIMING_READ_REPLICA_URLS`` split at commas (blank entries dropped)."""
        return [u.strip() for u in self.read_replica_urls.split(",") if u.strip()]

    @field_validator("wal_archive", mode="before")
    @classmethod
    def _archive_path(cls, value: object) -> Path | None:
        # Empty means off (not the current directory); relative paths would resolve in the data directory.
        if value is None or str(value).strip() == "":
            return None
        return Path(str(value)).expanduser().resolve()


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_", extra="ignore")

    public_read: bool = True
    token_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Login throttling (gis_api.auth.Throttle): after this many failed logins an account / a client address
    # is locked out; each further failure doubles the lock-out, up to the maximum.
    auth_max_failures_account: int = Field(default=5, ge=1, le=1000)
    auth_max_failures_address: int = Field(default=20, ge=1, le=100_000)
    auth_lockout_seconds: int = Field(default=60, ge=1, le=86_400)
    auth_lockout_max_seconds: int = Field(default=900, ge=1, le=7 * 86_400)
    # Failures are forgotten after this long without another one (a success also clears the account's).
    auth_failure_window_seconds: int = Field(default=3600, ge=1, le=30 * 86_400)


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_limit: int = Field(default=10_000, ge=1)
    workers: int | None = Field(
        default=None, ge=1, le=64,
        description="Server processes of diming serve, each with its own event loop and connection pools (the Python "
                    "half of a request runs on every core); unset = the number of cores.")


class SearchSettings(BaseSettings):
    """``DIMING_SEARCH_*``: place-name search (gis_api/places/search.py)."""

    model_config = SettingsConfigDict(env_prefix="DIMING_SEARCH_", extra="ignore")

    fallback_budget_ms: int = Field(
        default=0, ge=0,
        description="Time budget (a statement_timeout) of a search that may run the trigram-similarity fallback "
                    "(typos beyond one edit, when nothing closer matched); over it the search answers without the "
                    "fallback, \"partial\": true when nothing was found. 0 = off (see search_geojson before "
                    "enabling: read once when the server starts).")

    @field_validator("fallback_budget_ms", mode="before")
    @classmethod
    def _whole_ms(cls, value: object) -> object:
        # pydantic's own message names the field, not the variable an operator set: name the variable.
        text = str(value).strip()
        if text == "":  # set but blank (an env file's "VAR="): unset, the default
            return 0
        if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,9}", text):
            raise ValueError(f"DIMING_SEARCH_FALLBACK_BUDGET_MS must be a whole number of milliseconds, 0 or more "
                             f"(0 = off), not {str(value)[:40]!r}")
        return int(text)


@dataclass(frozen=True)
class Settings:
    db: DatabaseSettings
    auth: AuthSettings
    server: ServerSettings
    limits: LimitSettings = field(default_factory=LimitSettings)  # DIMING_LIMIT_* (gis_api/limits.py)
    search: SearchSettings = field(default_factory=SearchSettings)  # DIMING_SEARCH_*


def load_settings() -> Settings:
    return Settings(db=DatabaseSettings(), auth=AuthSettings(), server=ServerSettings(), limits=LimitSettings(),
                    search=SearchSettings())
