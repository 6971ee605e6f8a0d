"""Bound parameters for one statement, written once and run by psycopg2 (``%(pN)s``) or asyncpg (``$N``).

Every value a client sends becomes a parameter with an explicit cast, so the statement text depends only
on the *shape* of the request (which filters, which properties): it is prepared once per connection and
reused, and no client value is ever spliced into SQL.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_PSYCOPG = re.compile(r"%\(p(\d+)\)s")


class Params:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def bind(self, value: Any, cast: str) -> str:
        """A placeholder for ``value`` cast to ``cast`` (a fixed SQL type name from code)."""
        self.values.append(value)
        return f"CAST(%(p{len(self.values)})s AS {cast})"

    def as_dict(self) -> dict[str, Any]:
        return {f"p{i}": v for i, v in enumerate(self.values, start=1)}


@lru_cache(maxsize=1024)
def to_dollar(sql: str) -> str:
    """psycopg2 placeholders → asyncpg's ``$N`` (and ``%%`` → ``%``). Cached: a statement's text depends only on
    the request's shape, so the same few texts come back (no regex over the SQL per request)."""
    return _PSYCOPG.sub(lambda m: f"${m.group(1)}", sql).replace("%%", "%")
