"""QGIS (Debian python3-qgis) as a GIS user meets the server: one process loads every collection as an OAPIF layer,
reads all its features, and renders one point layer to a PNG.

Run by tests/clients/test_qgis.py with the SYSTEM python (/usr/bin/python3, where Debian installs the qgis
bindings; the project's venv cannot import them) and ``QT_QPA_PLATFORM=offscreen``::

    /usr/bin/python3 tests/clients/qgis_probe.py REQUEST.json RESULT.json

REQUEST: ``{"ogc": landing page URL, "collections": [ids], "page_size": n, "render": id or null,
"png": path, "size": pixels}``. RESULT: what QGIS reports per layer (validity, geometry type, CRS, fields with
their QVariant types, features read, distinct ids) and the render's visible extent and size. Standard library and
qgis only; the pytest side does the asserting.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from qgis.core import (  # type: ignore[import-not-found]
    Qgis,
    QgsApplication,
    QgsFeatureRequest,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsMarkerSymbol,
    QgsRectangle,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize, QVariant  # type: ignore[import-not-found]
from qgis.PyQt.QtGui import QColor  # type: ignore[import-not-found]

QVARIANT_NAMES = {int(getattr(QVariant, n)): n for n in ("Int", "LongLong", "Double", "String", "Date", "DateTime",
                                                        "Bool", "Time", "List", "StringList", "Map")}


def probe_layer(ogc: str, cid: str, page_size: int) -> tuple[dict[str, Any], QgsVectorLayer]:
    started = time.monotonic()
    # restrictToRequestBBOX=0: download the whole collection once (the way a user adds a layer to a project).
    uri = f"url='{ogc}' typename='{cid}' pagingEnabled='true' pageSize='{page_size}' restrictToRequestBBOX='0'"
    layer = QgsVectorLayer(uri, cid, "OAPIF")
    out: dict[str, Any] = {"valid": layer.isValid()}
    if not layer.isValid():
        out["error"] = layer.error().summary() if layer.error() else "invalid layer"
        return out, layer
    ids: set[str] = set()
    read = 0
    with_geometry = 0
    for f in layer.getFeatures(QgsFeatureRequest()):
        read += 1
        if f.hasGeometry():
            with_geometry += 1
        # A feature that paging delivers twice is identical in every attribute and its geometry; two different
        # features differ at least in their id (code, place id, row id …).
        ids.add(repr(f.attributes()) + (f.geometry().asWkt(6) if f.hasGeometry() else ""))
    out.update(
        wkb_type=QgsWkbTypes.displayString(layer.wkbType()),
        geometry_type=QgsWkbTypes.geometryDisplayString(QgsWkbTypes.geometryType(layer.wkbType())),
        crs=layer.crs().authid(),
        feature_count=int(layer.featureCount()),
        read=read,
        distinct=len(ids),
        with_geometry=with_geometry,
        fields=[{"name": f.name(), "type": QVARIANT_NAMES.get(int(f.type()), str(int(f.type()))),
                 "type_name": f.typeName()} for f in layer.fields()],
        seconds=round(time.monotonic() - started, 2),
    )
    return out, layer


def render(layer: QgsVectorLayer, png: str, size: int) -> dict[str, Any]:
    """Red 2 mm discs on white at 96 dpi, the layer's extent with a margin, the layer's own CRS (EPSG:4326 lon/lat,
    so the pytest side can place the database's coordinates on the image linearly)."""
    started = time.monotonic()
    symbol = QgsMarkerSymbol.createSimple({"name": "circle", "color": "255,0,0", "size": "2",
                                           "size_unit": "MM", "outline_style": "no"})
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    extent = QgsRectangle(layer.extent())
    extent.grow(max(extent.width(), extent.height()) * 0.05)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(QSize(size, size))
    settings.setOutputDpi(96)
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png, "PNG")
    visible = settings.visibleExtent()
    return {"png": png, "width": image.width(), "height": image.height(),
            "extent": [visible.xMinimum(), visible.yMinimum(), visible.xMaximum(), visible.yMaximum()],
            "errors": [f"{e.layerID}: {e.message}" for e in job.errors()],
            "seconds": round(time.monotonic() - started, 2)}


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    started = time.monotonic()
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    result: dict[str, Any] = {"qgis_version": Qgis.QGIS_VERSION, "layers": {}, "render": None}
    layers = {}
    for cid in request["collections"]:
        result["layers"][cid], layers[cid] = probe_layer(request["ogc"], cid, int(request["page_size"]))
    target = request.get("render")
    if target and result["layers"].get(target, {}).get("valid"):
        result["render"] = render(layers[target], request["png"], int(request["size"]))
    result["seconds"] = round(time.monotonic() - started, 2)
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(result, out, ensure_ascii=False, indent=1)
    del layers
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
