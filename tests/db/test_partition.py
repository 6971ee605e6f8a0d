"""The demo's geometry, checked in PostGIS: exact township partition, villages inside, neighbours touch."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

CURRENT = "valid_to IS NULL"


def _one(session: Session, sql: str) -> float:
    return float(session.execute(text(sql)).scalar_one())


def test_townships_partition_the_county_exactly(session: Session) -> None:
    gap_or_excess = _one(session, f"""
        SELECT ST_Area(ST_SymDifference(
            (SELECT ST_Union(geom) FROM divisions WHERE level = 'township' AND parent_code = '340122' AND {CURRENT}),
            (SELECT geom FROM divisions WHERE code = '340122' AND {CURRENT}))::geography)""")
    assert gap_or_excess < 1.0  # m²
    overlap = _one(session, f"""
        SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
        FROM divisions a JOIN divisions b ON a.code < b.code AND ST_Intersects(a.geom, b.geom)
        WHERE a.level = 'township' AND b.level = 'township' AND a.{CURRENT} AND b.{CURRENT}""")
    assert overlap < 1.0
    invalid = _one(session, f"SELECT count(*) FROM divisions WHERE level = 'township' AND {CURRENT} "
                            "AND NOT ST_IsValid(geom)")
    assert invalid == 0


def test_every_village_lies_in_its_township(session: Session) -> None:
    outside = session.execute(text(f"""
        SELECT v.code FROM divisions v JOIN divisions t ON t.code = v.parent_code AND t.{CURRENT}
        WHERE v.level = 'village' AND v.{CURRENT} AND NOT ST_Contains(t.geom, v.geom)""")).scalars().all()
    assert outside == []
    assert _one(session, f"SELECT count(*) FROM divisions WHERE level = 'village' AND {CURRENT}") == 252


def test_county_area_and_nine_touching_neighbours(session: Session) -> None:
    area_km2 = _one(
        session, f"SELECT ST_Area(geom::geography) / 1e6 FROM divisions WHERE code = '340122' AND {CURRENT}"
    )
    assert 2150 < area_km2 < 2250
    rows = session.execute(text(f"""
        SELECT n.code, ST_Length(ST_Intersection(ST_Boundary(f.geom), ST_Boundary(n.geom))::geography) AS shared_m,
               ST_Area(ST_Intersection(f.geom, n.geom)::geography) AS overlap_m2
        FROM divisions f JOIN divisions n ON n.level = 'county' AND n.code <> f.code AND n.{CURRENT}
        WHERE f.code = '340122' AND f.{CURRENT}""")).all()
    assert len(rows) == 9
    for code, shared_m, overlap_m2 in rows:
        assert shared_m > 1000, code  # each neighbour shares a real stretch of boundary
        assert overlap_m2 < 0.01 * area_km2 * 1e6, code


def test_synthetic_layers_say_so(session: Session) -> None:
    unlabelled = _one(session, f"""SELECT count(*) FROM divisions
        WHERE level IN ('township', 'village') AND parent_code LIKE '340122%' AND {CURRENT}
          AND source <> 'synthetic'""")
    assert unlabelled == 0
