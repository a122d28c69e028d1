"""Settings, read from the environment with the ``BVRAI_`` prefix.

In development (the default) missing secrets are generated on first start and kept in the data
folder (``secrets.json``, mode 0600), so ``bvrai serve`` needs no configuration. In production a
missing secret is a start-up error: generated secrets on ephemeral disks would silently log every
user out and make encrypted credentials unreadable after a restart.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """The settings cannot run the platform; the message names what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BVRAI_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path(".bvrai")
    database_url: str | None = None
    redis_url: str | None = None
    # PostgreSQL connections per process (SQLAlchemy's pool and its overflow).
    database_pool_size: int = 20
    database_max_overflow: int = 30
    storage_dir: Path | None = Field(default=None, description="Recordings and uploads; default <data_dir>/storage")

    secret_key: str | None = Field(default=None, description="HMAC and JWT signing key")
    # "kid:base64key,kid2:base64key"; the last one encrypts, all of them decrypt.
    encryption_keys: str | None = None

    public_base_url: str = "http://127.0.0.1:8000"
    # Destinations user-supplied URLs (tools, webhooks, documents) may reach although they are private
    # or loopback: comma-separated CIDRs, addresses or host names.
    ssrf_allow: str = ""
    # {"openai": "http://proxy:8080/v1", ...}: where each cloud provider is reached (proxies, fakes).
    provider_base_urls: dict[str, str] = Field(default_factory=dict)
    model_cache_dir: Path | None = Field(default=None, description="Assembled local models; default <data_dir>/models")
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: list[str] = Field(default_factory=list)

    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    invitation_ttl_s: int = 7 * 24 * 3600

    rate_limit_api: str = "600/minute"
    rate_limit_org: str = "3000/minute"
    rate_limit_auth_ip: str = "30/minute"
    rate_limit_failed_login_ip: str = "10/minute"

    # Simultaneous phone calls per organization (inbound and outbound together).
    max_concurrent_calls: int = 10

    # Knowledge bases. The vector store: unset = the embedded SQLite file <data_dir>/vectors.sqlite3
    # (sqlite-vec + FTS5), "sqlite:///path" = that file elsewhere, "http(s)://host:6333" = a Qdrant server.
    vector_store_url: str | None = None
    knowledge_max_upload_bytes: int = 25 * 1024 * 1024
    knowledge_fetch_timeout_s: float = 30.0
    # A worker's claim on a document it ingests; renewed after every batch, taken over when it runs out.
    knowledge_lease_s: float = 60.0
    # Background jobs (docs/jobs.md): the sweeper's period, how long a claimed job is its worker's,
    # the Redis list the workers share, and how many jobs one process runs at once.
    job_poll_s: float = 1.0
    job_lease_s: float = 120.0
    job_queue: str = "bvrai:jobs"
    job_concurrency: int = 20
    # A browser call still queued this long after it was created (nobody connected) is canceled.
    web_call_connect_timeout_s: float = 120.0
    # Outgoing webhooks: a factor on the retry schedule (tests shrink it), and how many failed
    # deliveries in a row disable an endpoint.
    webhook_retry_scale: float = 1.0
    webhook_disable_after: int = 20
    # Campaigns (docs/campaigns.md): the dialer's period; how long a dial may take before the carrier
    # is asked whether it was placed (a worker died mid-dial); the contact upload's limits.
    campaign_tick_s: float = 1.0
    campaign_dial_lease_s: float = 60.0
    campaign_max_upload_bytes: int = 5 * 1024 * 1024
    campaign_max_contacts: int = 100_000

    seed_demo: bool = True
    # Load the local models while the server starts, so the first call does not wait for them.
    warm_up_models: bool = False

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'bvrai.db'}"
        return self

    @property
    def model_cache_path(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def storage_path(self) -> Path:
        return self.storage_dir or self.data_dir / "storage"

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    def require_secrets(self) -> None:
        """Fill missing secrets (development) or refuse to start (production)."""
        missing = [name for name in ("secret_key", "encryption_keys") if not getattr(self, name)]
        if not missing:
            return
        if self.env == "production":
            names = ", ".join(f"BVRAI_{m.upper()}" for m in missing)
            raise ConfigurationError(f"production mode needs these settings: {names}")
        stored = _load_or_create_secrets(self.data_dir)
        for name in missing:
            setattr(self, name, stored[name])


def _load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "secret_key": secrets.token_urlsafe(48),
        "encryption_keys": "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    return values
