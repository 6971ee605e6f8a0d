"""A search on a brand-new database connection: pg_trgm's settings exist only once its library is loaded.

The fuzzy branches compare ``word_similarity`` with pg_trgm's threshold; the planner evaluates
``current_setting('pg_trgm.word_similarity_threshold')`` while estimating, before any trigram function has run,
and in a fresh backend that raised "unrecognized configuration parameter" — a 500 for the first such search on
each new pooled connection (seen under the 50-client mixed load, scripts/bench/mixed_load.py).
"""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from gis_api.db import CONNECTION_OPTIONS
from gis_api.places import search


def _ids(body: str) -> list[int]:
    return [f["id"] for f in json.loads(body)["features"]]


def test_fuzzy_search_on_a_fresh_backend(engine: Engine) -> None:
    fresh = create_engine(engine.url, poolclass=NullPool, connect_args={"options": CONNECTION_OPTIONS})
    queries = [search.SearchQuery(q="shiqioacun", within="340122"),
               search.SearchQuery(q="shiqioa", near=(117.4, 31.9), radius_m=5000)]
    try:
        for q in queries:
            with Session(fresh) as s:  # a new backend per query: pg_trgm not loaded yet
                first = search.search_geojson(s, q)
            with Session(fresh) as s:  # the same query once pg_trgm is loaded in the backend
                s.execute(text("SELECT similarity('a', 'b')"))
                warm = search.search_geojson(s, q)
            assert _ids(first) == _ids(warm)
        with Session(fresh) as s:  # the queries do reach the trigram threshold (what failed)
            assert all("word_similarity_threshold" in search.build_sql(s, q)[0] for q in queries)
    finally:
        fresh.dispose()
