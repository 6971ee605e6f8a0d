"""An OGC bbox over places counted and paged from indexes alone (issue 12 §2 (a)).

``geom_pt``: a point place's x/y as PostgreSQL's own ``point`` (NULL for lines, areas and places without a
geometry), a STORED generated column — PostgreSQL computes it on every insert and update, so no writer (the
importer, the services) names it. Its GiST index INCLUDEs the place id, row id and valid time: core ``point_ops``
returns the indexed value (PostGIS's geometry opclasses do not), so "points in the box, in force on the date" is
an index-only scan — no heap page per match (a bbox of 8,025 points in random physical order read 6,962 heap
pages) — and the lowest ids of the page are chosen from it too. The other geometries are found through a partial
GiST index on ``geom WHERE geom_pt IS NULL`` (empty while every place is a point).

``diming_bump_version`` compares the row without ``geom_pt``: a BEFORE trigger sees generated columns as NULL
in NEW, so every update — even one that changes nothing — would have looked like a change and bumped the
version. ``geom_pt`` is a function of ``geom``, which is still compared.

Adding a stored column rewrites ``places`` (a minute for 500,000 rows, under an exclusive lock).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BUMP = """
CREATE OR REPLACE FUNCTION diming_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Every stored change is a new record version (the ETag), unless nothing changed at all.
    IF to_jsonb(NEW) - 'version' - 'updated_at'{extra} IS DISTINCT FROM to_jsonb(OLD) - 'version' - 'updated_at'{extra}
    THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute("ALTER TABLE places ADD COLUMN geom_pt point GENERATED ALWAYS AS "
               "(CASE WHEN GeometryType(geom) = 'POINT' THEN point(ST_X(geom), ST_Y(geom)) END) STORED")
    op.execute("CREATE INDEX ix_places_geom_pt ON places USING gist (geom_pt) "
               "INCLUDE (place_id, id, valid_from, valid_to)")
    op.execute("CREATE INDEX ix_places_geom_other ON places USING gist (geom) WHERE geom_pt IS NULL")
    # generated columns are NULL in a BEFORE trigger's NEW: leave geom_pt out of "did anything change"
    op.execute(_BUMP.format(extra=" - 'geom_pt'"))


def downgrade() -> None:
    op.execute(_BUMP.format(extra=""))
    op.execute("DROP INDEX ix_places_geom_other")
    op.execute("DROP INDEX ix_places_geom_pt")
    op.execute("ALTER TABLE places DROP COLUMN geom_pt")
