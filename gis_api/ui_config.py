"""What the map page needs to know before it draws: the Tianditu key (if any) and which APIs this server has.

The key is public by nature (it travels in every tile URL the browser fetches), so it is served to any reader.
Without a key the page shows no base map at all: an intranet without internet works the same (domain.md §7).
Which APIs exist is read from the app's own routes, so the page grows its screens as areas are wired in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_api.deps import ReadAccess

router = APIRouter(prefix="/api/v1", tags=["meta"])

# Feature name -> a path (exact, as declared by its router) whose presence switches the screen on.
FEATURES: dict[str, tuple[str, ...]] = {
    "places": ("/api/v1/places",),
    "proposals": ("/api/v1/proposals",),
    "boundaries": ("/api/v1/boundaries",),
    "markers": ("/api/v1/boundary-markers",),
    "inspections": ("/api/v1/boundary-inspections",),
    "gpx": ("/api/v1/boundary-patrols",),
    "facilities": ("/api/v1/facilities",),
    "facility_kinds": ("/api/v1/facilities/kinds",),
    "cemeteries": ("/api/v1/cemeteries",),
    "coverage": ("/api/v1/coverage",),
    "suggest": ("/api/v1/coverage/suggest",),
    "ogc": ("/ogc", "/ogc/"),
}


class UiSettings(BaseSettings):
    """Settings of the map page (env prefix ``DIMING_``)."""

    model_config = SettingsConfigDict(env_prefix="DIMING_", extra="ignore")

    tianditu_key: str | None = Field(
        default=None, description="天地图 browser key (tk); unset = no base map (offline intranet)."
    )


def get_ui_settings(request: Request) -> UiSettings:
    """``app.state.ui_settings`` when the app factory set it, else read from the environment."""
    found = getattr(request.app.state, "ui_settings", None)
    return found if isinstance(found, UiSettings) else UiSettings()


def api_paths(app: FastAPI) -> set[str]:
    """Every path the app serves, from its OpenAPI document (built once and cached by FastAPI); routers
    included with ``include_router`` are not flattened into ``app.routes`` in current FastAPI."""
    return set(app.openapi().get("paths", {}))


def available_features(paths: set[str]) -> dict[str, bool]:
    return {name: any(p in paths for p in wanted) for name, wanted in FEATURES.items()}


@router.get("/ui-config", summary="Map page configuration: base-map key and the APIs this server offers")
def ui_config(request: Request, _reader: ReadAccess) -> dict[str, Any]:
    """Public when reads are (DIMING_PUBLIC_READ=true); otherwise it needs a login like every other read (the
    base-map key is the bureau's). Without it the page falls back to /openapi.json until someone logs in."""
    settings = get_ui_settings(request)
    paths = api_paths(request.app)
    key = (settings.tianditu_key or "").strip() or None
    return {
        "tianditu": {"key": key, "matrix_set": "w", "layers": ["vec", "cva", "img", "cia"]} if key else None,
        "crs": "EPSG:4490",
        "features": available_features(paths),
        "paths": sorted(p for p in paths if p.startswith(("/api/", "/ogc"))),
    }
