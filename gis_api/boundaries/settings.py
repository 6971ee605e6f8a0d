"""Boundary settings (env prefix ``DIMING_BOUNDARY_``): tolerances and intervals are settings, not laws."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BoundarySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_BOUNDARY_", extra="ignore")

    marker_tolerance_m: float = Field(default=5.0, gt=0, description="a marker farther from its line is an outlier")
    inspection_interval_years: int = Field(default=5, ge=1, description="joint inspection cycle (domain.md §5)")
    due_soon_days: int = Field(default=180, ge=0, description="an inspection due within this many days is 'due'")
    patrol_buffer_m: float = Field(default=30.0, gt=0, description="line within this distance of a track is covered")
    patrol_visit_m: float = Field(default=20.0, gt=0, description="a marker this close to a track was visited")
    min_area_m2: float = Field(default=1.0, ge=0, description="gaps/overlaps smaller than this are rounding noise")
    sliver_area_m2: float = Field(default=5000.0, ge=0, description="a gap/overlap smaller than this is a sliver")
    sliver_thinness: float = Field(
        default=0.05, ge=0, le=1, description="Polsby-Popper 4πA/P² below this marks a thin sliver"
    )
    repair_max_area_change: float = Field(
        default=0.001, ge=0, description="an import repair that changes the area by more than this share is rejected"
    )


def load_boundary_settings() -> BoundarySettings:
    return BoundarySettings()
