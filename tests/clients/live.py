"""The live server the real-client tests talk to, and the database's own answers to compare with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis_api import clock

IN_FORCE = "t.valid_from <= :day AND (t.valid_to IS NULL OR t.valid_to > :day)"
# The database's own count per collection, written independently of the OGC layer's SQL.
DB_COUNTS: dict[str, str] = {
    "counties": "SELECT count(*) FROM divisions t WHERE t.level = 'county' AND {in_force}",
    "townships": "SELECT count(*) FROM divisions t WHERE t.level = 'township' AND {in_force}",
    "villages": "SELECT count(*) FROM divisions t WHERE t.level = 'village' AND {in_force}",
    "places": "SELECT count(*) FROM places t WHERE {in_force}",
    "place-points": "SELECT count(*) FROM places t WHERE GeometryType(t.geom) = 'POINT' AND {in_force}",
    "place-lines": "SELECT count(*) FROM places t WHERE GeometryType(t.geom) LIKE '%LINESTRING' AND {in_force}",
    "place-areas": "SELECT count(*) FROM places t WHERE GeometryType(t.geom) LIKE '%POLYGON' AND {in_force}",
    "boundary-lines": "SELECT count(*) FROM boundary_line_versions t WHERE {in_force}",
    "markers": "SELECT count(*) FROM boundary_markers t WHERE {in_force}",
    "facilities": "SELECT count(*) FROM facilities t WHERE {in_force}",
    "cemeteries": "SELECT count(*) FROM facilities t WHERE t.kind IN ('public_cemetery', 'ash_hall') AND {in_force}",
    "parcels": "SELECT count(*) FROM cemetery_parcels t WHERE {in_force}",
}
@dataclass
class ClientsServer:
    """The live server (``base`` is its root URL, ``ogc`` the OGC API landing page) and its database."""

    base: str
    engine: Engine

    @property
    def ogc(self) -> str:
        return f"{self.base}/ogc"

    def collections(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.ogc}/collections", timeout=30)
        r.raise_for_status()
        return list(r.json()["collections"])

    def collection_ids(self) -> list[str]:
        return [c["id"] for c in self.collections()]

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.ogc}{path}", params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def number_matched(self, cid: str) -> int:
        return int(self.get(f"/collections/{cid}/items", limit=1)["numberMatched"])

    def db_count(self, cid: str) -> int:
        sql = DB_COUNTS.get(cid)
        assert sql is not None, f"collection {cid} is new: add its database count to DB_COUNTS in {__file__}"
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql.format(in_force=IN_FORCE)), {"day": clock.today()}).scalar_one())

    def schema_types(self, cid: str) -> dict[str, str]:
        """Property name -> ``date`` / ``date-time`` / ``integer`` / ``number`` / ``string`` … from the
        collection's Part 5 schema (``/collections/{id}/schema``); empty when the server has none."""
        r = httpx.get(f"{self.ogc}/collections/{cid}/schema", timeout=30)
        if r.status_code == 404:
            return {}
        r.raise_for_status()
        out: dict[str, str] = {}
        for name, p in r.json().get("properties", {}).items():
            if "type" in p:
                out[name] = p.get("format") if p["type"] == "string" and p.get("format") else p["type"]
        return out
