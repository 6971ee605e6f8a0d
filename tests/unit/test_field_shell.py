"""The phone app works offline only if its service worker caches every script the app imports: a module added to
an import chain but not to the worker's SHELL list would break the app's first offline start."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "map_ui" / "static"
IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)


def _imports(start: Path) -> set[str]:
    seen: set[Path] = set()
    todo = [start]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for spec in IMPORT.findall(f.read_text(encoding="utf-8")):
            todo.append((f.parent / spec).resolve())
    return {"/static/" + p.relative_to(STATIC).as_posix() for p in seen}


def test_the_worker_caches_every_module_the_app_imports() -> None:
    sw = (STATIC / "js" / "field" / "sw.js").read_text(encoding="utf-8")
    shell = set(re.findall(r'"(/static/[^"]+)"', sw.split("const SHELL", 1)[1].split("];", 1)[0]))
    needed = _imports(STATIC / "js" / "field" / "app.js")
    assert "/static/js/i18n.js" in needed and "/static/js/field/sync.js" in needed  # the walk follows the chain
    assert needed - shell == set()
    assert {p for p in shell if p.endswith(".js")} - needed <= {
        "/static/vendor/leaflet/leaflet.js", "/static/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js"}
