"""One FeatureCollection shape for every list endpoint, assembled by PostgreSQL in one statement.

``numberMatched``, ``numberReturned``, ``as_of`` and a ``next`` link when more rows match (design.md, API
conventions). Callers pass fixed SQL fragments only; every value is a bound parameter.

``order_by`` must end with a key that is unique among the matched rows (e.g. ``p.place_id`` under an as-of
condition: one version per id on a date, by the exclusion constraints), so that offset pages never skip or
repeat a row (tests/api/test_paging.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def collection(
    session: Session,
    *,
    table: str,
    alias: str,
    where: list[str],
    feature_sql: str,
    order_by: str,
    params: dict[str, Any],
    limit: int,
    offset: int,
    next_url: str | None,
) -> str:
    cond = " AND ".join(where) or "true"
    a = alias
    sql = f"""
        WITH matched AS (SELECT count(*) AS n FROM {table} {a} WHERE {cond}),
        page AS (SELECT {a}.* FROM {table} {a} WHERE {cond} ORDER BY {order_by} LIMIT :limit OFFSET :offset)
        SELECT json_build_object(
            'type', 'FeatureCollection',
            'numberMatched', (SELECT n FROM matched),
            'numberReturned', (SELECT count(*) FROM page),
            'timeStamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'as_of', CAST(:as_of AS date),
            'features', coalesce((SELECT json_agg({feature_sql} ORDER BY {order_by}) FROM page {a}), '[]'::json),
            'links', CASE WHEN (SELECT n FROM matched) > :offset + :limit AND CAST(:next AS text) IS NOT NULL
                          THEN json_build_array(json_build_object(
                              'rel', 'next', 'type', 'application/geo+json', 'href', CAST(:next AS text)))
                          ELSE '[]'::json END
        )::text"""
    bound = {"as_of": None, **params, "limit": limit, "offset": offset, "next": next_url}
    return str(session.execute(text(sql), bound).scalar_one())
