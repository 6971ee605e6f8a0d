"""Radius coverage right at the edge: the engine's pairs equal the exact ellipsoid test over every pair.

Demand points are placed with ``ST_Project`` (the geodesic direct problem on the ellipsoid) a few centimetres to a
few metres inside and outside 5 km of each facility, in every direction, from the equator to 70°N. A prefilter that
is too tight (a sphere, a projection, a bounding box at the wrong latitude) drops or adds some of them; the engine
must give exactly the pairs and distances of ``ST_DWithin`` / ``ST_Distance`` on geography with no prefilter. Also:
``temp_buffers`` is raised on a fresh connection, and a connection whose temporary buffers are already in use at
another size still runs coverage.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from gis_api.coverage import engine as cov

R = 5_000.0
OFFSETS = (-3.0, -1.0, -0.05, 0.05, 1.0, 3.0)  # metres from the edge: negative inside, positive outside
FACILITIES = [(1, 117.0, 0.0), (2, 117.3, 31.9), (3, 117.3, 31.9 + 0.05), (4, 120.0, 53.5), (5, -70.0, 70.0)]


def _layout(session: Session) -> None:
    session.execute(text("DROP TABLE IF EXISTS pg_temp.cov_supply"))
    session.execute(text("DROP TABLE IF EXISTS pg_temp.cov_demand"))
    session.execute(text("""
        CREATE TEMP TABLE cov_supply ON COMMIT DROP AS
        SELECT f.id, ST_SetSRID(ST_MakePoint(f.x, f.y), 4490) AS geom
        FROM unnest(CAST(:ids AS int[]), CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS f(id, x, y)"""),
        {"ids": [f[0] for f in FACILITIES], "xs": [f[1] for f in FACILITIES], "ys": [f[2] for f in FACILITIES]})
    # Every facility × 36 directions × each offset; the intended side of the edge is kept in ``offset``.
    session.execute(text("""
        CREATE TEMP TABLE cov_demand ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY s.id, a.deg, o.off)::int AS id, s.id AS origin, o.off AS offset_m,
               ST_Project(s.geom::geography, :r + o.off, radians(a.deg))::geometry AS geom
        FROM pg_temp.cov_supply s, generate_series(0, 350, 10) AS a(deg), unnest(CAST(:offs AS float8[])) AS o(off)
    """), {"r": R, "offs": list(OFFSETS)})
    for t in ("cov_supply", "cov_demand"):
        session.execute(text(f"CREATE INDEX ON pg_temp.{t} USING gist (geom)"))
        session.execute(text(f"ANALYZE pg_temp.{t}"))


def _rows(session: Session, sql: str) -> set[tuple[int, int, float]]:
    return {(int(a), int(b), float(c)) for a, b, c in session.execute(text(sql), {"r": R})}


def test_pairs_equal_the_exact_test_at_the_edge(session: Session) -> None:
    _layout(session)
    assert cov.pairs(session, cov.Distance("radius", R)) > 0
    fast = _rows(session, "SELECT demand_id, supply_id, dist_m FROM pg_temp.cov_pairs")
    exact = _rows(session, """
        SELECT d.id, s.id, ST_Distance(d.geom::geography, s.geom::geography)
        FROM pg_temp.cov_demand d, pg_temp.cov_supply s
        WHERE ST_DWithin(d.geom::geography, s.geom::geography, :r)""")
    assert fast == exact
    # The layout really straddles the edge: every point placed inside its facility's circle is covered by it,
    # none placed outside is (facilities 2 and 3 are 5.5 km apart, so some points are covered by the other one).
    own = {(d, s) for d, s, _ in fast}
    placed = session.execute(text("SELECT id, origin, offset_m FROM pg_temp.cov_demand")).all()
    assert len(placed) == len(FACILITIES) * 36 * len(OFFSETS)
    for did, origin, off in placed:
        assert ((did, origin) in own) == (off < 0), (did, origin, off)


def _fresh(engine: Engine) -> Engine:
    return create_engine(engine.url, poolclass=NullPool)


def test_temp_buffers_raised_before_the_first_temporary_table(engine: Engine) -> None:
    e = _fresh(engine)
    try:
        with Session(e) as s:
            assert cov.use_temp_buffers(s) is True
            assert s.execute(text("SHOW temp_buffers")).scalar_one() == cov.TEMP_BUFFERS
            _layout(s)
            assert cov.pairs(s, cov.Distance("radius", R)) > 0
            s.rollback()
    finally:
        e.dispose()


def test_coverage_runs_when_temp_buffers_are_already_fixed(engine: Engine) -> None:
    """An earlier temporary table (an import on the same pooled connection) fixed the default size: the raise is
    refused, rolled back to its savepoint, and the transaction goes on to the same pairs."""
    e = _fresh(engine)
    try:
        with Session(e) as s:
            s.execute(text("CREATE TEMP TABLE cov_probe (x int)"))
            s.execute(text("INSERT INTO cov_probe VALUES (1)"))
            assert cov.use_temp_buffers(s) is False
            assert s.execute(text("SHOW temp_buffers")).scalar_one() != cov.TEMP_BUFFERS
            _layout(s)
            n = cov.pairs(s, cov.Distance("radius", R))
            assert n == s.execute(text("""
                SELECT count(*) FROM pg_temp.cov_demand d, pg_temp.cov_supply s
                WHERE ST_DWithin(d.geom::geography, s.geom::geography, :r)"""), {"r": R}).scalar_one()
            s.rollback()
    finally:
        e.dispose()
