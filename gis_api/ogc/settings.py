"""Settings of the OGC face (``DIMING_OGC_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OgcSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_OGC_", extra="ignore")

    default_limit: int = Field(default=10, ge=1, description="items per page when the client gives no limit")
    exact_count_max: int = Field(
        default=10_000, ge=0,
        description="numberMatched is counted exactly up to this many features, estimated above (planner stats)",
    )
    pool_size: int = Field(default=10, ge=1, le=100, description="connections of the read pool")
    metadata_ttl_s: float = Field(default=300.0, ge=0, description="how long extents and counts are cached")
