"""Models and migrations agree, and migrations run down and up again cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.command import downgrade, upgrade
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gis_api.db import recreate_database
from gis_api.models import Base, include_object
from gis_api.settings import CHECKOUT, Settings
from tests.conftest import TEST_DB


def test_models_and_migrations_do_not_drift(settings: Settings) -> None:
    url = make_url(settings.db.database_url or "").set(database=f"{TEST_DB}_drift")
    recreate_database(url.render_as_string(hide_password=False))
    cfg = Config(str(CHECKOUT / "alembic.ini"))
    cfg.attributes["url"] = url.render_as_string(hide_password=False)
    upgrade(cfg, "heads")
    engine = create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
    downgrade(cfg, "base")
    with engine.connect() as conn:
        left = conn.execute(text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_name IN ('divisions', 'audit_log', 'users')")).scalar_one()
    assert left == 0
    upgrade(cfg, "heads")
    engine.dispose()
