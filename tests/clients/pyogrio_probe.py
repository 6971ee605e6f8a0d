"""The current GDAL (the one bundled in the pyogrio wheel) reads every collection; prints JSON.

A separate process on purpose: GDAL holds the GIL while it fetches over HTTP, so inside the pytest process it would
deadlock with the uvicorn thread serving it. ``python tests/clients/pyogrio_probe.py OGC_URL PAGE_SIZE ID...``
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pyogrio
import pyogrio.raw


def probe(ogc: str, cid: str, page_size: int) -> dict[str, Any]:
    info = pyogrio.read_info(f"OAPIF:{ogc}", layer=cid)
    meta, fids, _geom, data = pyogrio.raw.read(f"OAPIF:{ogc}", layer=cid, read_geometry=False, return_fids=True,
                                               PAGE_SIZE=page_size)
    names = list(meta["fields"])
    # The server's id: the "id" field when ids are strings, the FID when they are integers.
    keys = [str(v) for v in data[names.index("id")]] if "id" in names else [str(v) for v in fids]
    return {
        "gdal": pyogrio.__gdal_version_string__, "geometry": info["geometry_type"], "count": int(info["features"]),
        "read": len(keys), "distinct": len(set(keys)),
        "fields": {n: t.removeprefix("OFT") for n, t in zip(info["fields"], info["ogr_types"], strict=True)},
    }


if __name__ == "__main__":
    url, size, *ids = sys.argv[1:]
    json.dump({cid: probe(url, cid, int(size)) for cid in ids}, sys.stdout, ensure_ascii=False)
