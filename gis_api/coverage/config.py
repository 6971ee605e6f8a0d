"""Planning settings (``DIMING_PLANNING_*``) and the GB 50180-2018 life-circle presets (domain.md §6).

Values marked U/P in domain.md are settings, never hard-coded law.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlanningSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_PLANNING_", extra="ignore")

    county: str = Field(default="340122", description="county whose townships the plan's rules check")
    max_snap_m: float = Field(default=1000.0, gt=0, description="a point farther from the network is off it")
    solver_time_limit_s: float = Field(default=60.0, gt=0, description="MCLP/LSCP solver time limit")
    eco_burial_target: float = Field(default=0.5, ge=0, le=1, description="land-saving burial share target (P)")
    rural_radius_m: float = Field(default=2000.0, gt=0, description="rural service radius preset (U)")
    max_candidates: int = Field(default=5000, ge=1, description="largest candidate set for site suggestion")


# GB 50180-2018 residential life circles: walking time, radius and the population each serves.
LIFE_CIRCLES: dict[str, dict[str, Any]] = {
    "5min": {"label_zh": "5分钟生活圈", "walk_minutes": 5, "radius_m": 300, "radius_range_m": [300, 300],
             "population": [5_000, 12_000], "standard": "GB 50180-2018"},
    "10min": {"label_zh": "10分钟生活圈", "walk_minutes": 10, "radius_m": 500, "radius_range_m": [500, 500],
              "population": [15_000, 25_000], "standard": "GB 50180-2018"},
    "15min": {"label_zh": "15分钟生活圈", "walk_minutes": 15, "radius_m": 1000, "radius_range_m": [800, 1000],
              "population": [50_000, 100_000], "standard": "GB 50180-2018"},
}


def presets(settings: PlanningSettings | None = None) -> dict[str, dict[str, Any]]:
    s = settings or PlanningSettings()
    out = {k: dict(v) for k, v in LIFE_CIRCLES.items()}
    out["rural"] = {"label_zh": "农村服务半径", "radius_m": s.rural_radius_m, "standard": "local setting (U)",
                    "setting": "DIMING_PLANNING_RURAL_RADIUS_M"}
    return out
