"""Links of a single feature (OGC API – Features Part 1, /req/core/f-links): ``self``, ``collection``, and —
where the JSON API serves the same feature — ``alternate`` (the /api/v1 representation, with its details) and
``version-history`` (RFC 5829: every valid-time version and the audit trail; a ``datetime`` interval answers
one version per id, the others are there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import orjson

from gis_api.ogc.collections import Collection

# The JSON API path of one feature, by table (so every collection over a table gets it, e.g. place layers).
JSON_API: dict[str, str] = {
    "places": "/api/v1/places/{id}",
    "divisions": "/api/v1/divisions/{id}",
    "boundary_line_versions": "/api/v1/boundaries/{id}",
    "boundary_markers": "/api/v1/boundary-markers/{id}",
    "facilities": "/api/v1/facilities/{id}",
    "cemetery_parcels": "/api/v1/cemeteries/parcels/{id}",
}


def feature_links(root: str, ogc_base: str, c: Collection, fid: str, self_href: str | None = None,
                  as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """``root``: the server's base URL; ``ogc_base``: that of the OGC API; ``as_of``: the date the feature was
    read for, carried to the alternate (none: the version in force today)."""
    item = f"{ogc_base}/collections/{c.id}/items/{quote(fid, safe='')}"
    links: list[dict[str, Any]] = [
        {"href": self_href or item, "rel": "self", "type": "application/geo+json", "title": "this feature"},
        {"href": f"{ogc_base}/collections/{c.id}", "rel": "collection", "type": "application/json",
         "title": c.title},
    ]
    path = JSON_API.get(c.table)
    if path:
        api = root + path.format(id=quote(fid, safe=""))
        links.append({"href": api + (f"?as_of={as_of.isoformat()}" if as_of else ""), "rel": "alternate",
                      "type": "application/geo+json", "title": "the feature in the JSON API, with its details"})
        links.append({"href": f"{api}/history", "rel": "version-history", "type": "application/json",
                      "title": "every version in valid time and the audit trail"})
    return links


def with_links(feature: str, links: list[dict[str, Any]]) -> str:
    """The feature's GeoJSON text (an object built by PostgreSQL) with a ``links`` member added."""
    body = feature.rstrip()
    if not body.endswith("}"):
        return feature
    return body[:-1] + ',"links":' + orjson.dumps(links).decode() + "}"
