"""The FastAPI application factory (no module-level app: settings are passed in)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from gis_api import __version__
from gis_api.adjustments.routes import router as adjustments_router
from gis_api.adjustments.routes import seats_router
from gis_api.auth_routes import router as auth_router
from gis_api.boundaries.routes import ROUTERS as boundary_routers
from gis_api.coverage.routes import router as coverage_router
from gis_api.db import database_url, make_engine, make_sessionmaker
from gis_api.deps import OptionalUser, SessionDep, SettingsDep
from gis_api.divisions.routes import router as divisions_router
from gis_api.errors import install_handlers
from gis_api.facilities.routes import router as facilities_router
from gis_api.field.routes import pages as field_pages
from gis_api.field.routes import router as field_router
from gis_api.help.routes import router as help_router
from gis_api.io.routes import router as io_router
from gis_api.limits import BodyLimitMiddleware
from gis_api.naming.routes import router as naming_router
from gis_api.ogc.routes import router as ogc_router
from gis_api.openapi_doc import install as install_openapi
from gis_api.places.routes import router as places_router
from gis_api.replicas import ReplicaRouting, ReplicaSet
from gis_api.security_headers import SecurityHeaders
from gis_api.settings import Settings
from gis_api.ui_config import router as ui_config_router

MAP_UI = Path(__file__).resolve().parent.parent / "map_ui"


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Diming 地名 API",
        version=__version__,
        description="Place names, administrative divisions and boundaries of a county civil-affairs bureau.",
        # Swagger UI's own assets come from a CDN by default; serve them locally (see /docs below).
        docs_url=None,
        redoc_url=None,
    )
    engine = make_engine(database_url(settings.db), settings.db.pool_size)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    # Shared by every worker thread: analyses without a planner login running at once (gis_api/deps.py).
    app.state.anonymous_analysis_slots = threading.BoundedSemaphore(settings.limits.anonymous_analysis_concurrency)
    install_handlers(app)
    app.router.on_startup.append(_freeze_gc)
    app.add_middleware(BodyLimitMiddleware, limits=settings.limits)  # 413 before a large body is read
    replica_urls = settings.db.replica_urls()
    if replica_urls:  # reads on hot standbys, writes and read-your-writes on the primary (gis_api/replicas.py)
        app.state.replicas = ReplicaSet(engine, replica_urls, max_lag_s=settings.db.replica_max_lag_s,
                                        interval_s=settings.db.replica_check_interval_s,
                                        pool_size=settings.db.pool_size)
        app.add_middleware(ReplicaRouting, replicas=app.state.replicas)
    # First: the router is searched in order, and /ogc reads are the hot path (OGC clients poll them); the
    # paths do not overlap, so the order changes nothing else (measured: ~0.19 ms less CPU per request).
    app.include_router(ogc_router)
    app.include_router(auth_router)
    app.include_router(divisions_router)
    app.include_router(places_router)
    for r in (*boundary_routers, adjustments_router, seats_router):
        app.include_router(r)
    app.include_router(io_router)
    app.include_router(facilities_router)
    app.include_router(coverage_router)
    app.include_router(naming_router)
    app.include_router(ui_config_router)
    app.include_router(field_router)
    app.include_router(field_pages)
    app.include_router(help_router)  # /help: docs/ and the manuals, offline

    @app.get("/api/v1/health", tags=["meta"], summary="Service and database status")
    def health(session: SessionDep, user: OptionalUser, current: SettingsDep) -> dict[str, Any]:
        """Always open for monitoring; with DIMING_PUBLIC_READ=false an anonymous caller sees only
        ``status`` (versions and extensions would help an attacker and are nobody else's business)."""
        row = session.execute(
            text(
                "SELECT postgis_lib_version(), current_setting('server_version'), current_setting('jit'), "
                "current_setting('max_parallel_workers_per_gather'), "
                "(SELECT array_agg(extname::text ORDER BY extname) FROM pg_extension)"
            )
        ).one()
        if not current.auth.public_read and user is None:
            return {"status": "ok"}
        return {
            "status": "ok",
            "version": __version__,
            "postgis": row[0],
            "postgresql": row[1],
            "jit": row[2],
            "max_parallel_workers_per_gather": int(row[3]),
            "extensions": row[4],
            "public_read": current.auth.public_read,
        }

    install_openapi(app)  # shared error responses and security in /openapi.json (gis_api/openapi_doc.py)
    _mount_ui(app)
    # CSP, nosniff, no framing on every response (docs/security.md). Wrapped around the whole stack rather than
    # added with add_middleware, which would sit inside Starlette's ServerErrorMiddleware and miss its 500s.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build())  # type: ignore[method-assign]
    return app


def _freeze_gc() -> None:
    """At server start: what the app built (~420,000 objects: routes, models, dictionaries) leaves the cyclic
    garbage collector's full collections, which walked all of it with every request stopped — 1.5–2.5 s each at
    load 14: the p99 of every route (issue 12 §2); afterwards a full collection took 6–24 ms."""
    gc.collect()
    gc.freeze()


def _mount_ui(app: FastAPI) -> None:
    static = MAP_UI / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    index = (MAP_UI / "templates" / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def index_page() -> str:
        return index

    # FastAPI's get_swagger_ui_html starts Swagger UI with an inline script, which the CSP (script-src 'self')
    # refuses; this page loads the same local bundle and starts it from a static file instead.
    docs_page = (MAP_UI / "templates" / "docs.html").read_text(encoding="utf-8")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> str:
        return docs_page
