"""The package-dependency graph of gis_api as Mermaid, kept in docs/architecture.md between its markers.

A node per area package (gis_api/places, gis_api/ogc …) plus ``core`` for the top-level modules they share
(concurrency, db, deps, settings, limits, auth …) that import no area package; a top-level module that does
(e.g. models, labels) is a node of its own, so that core's arrows all point inwards. ``app``/``cli`` (the entry
points, which import everything) are left out. An edge A --> B when a module of A imports from B, also
inside a function.

    python scripts/docs/package_graph.py          # print the graph
    python scripts/docs/package_graph.py --write  # rewrite it in docs/architecture.md
    python scripts/docs/package_graph.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markers import sync  # beside this script (the scripts are run, and loaded by tests, by path)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gis_api"
TARGET = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- package-graph:begin -->", "<!-- package-graph:end -->"
ENTRY_POINTS = {"app", "cli", "backup_cli", "users_cli", "__init__"}


def _area(parts: list[str], own: frozenset[str] = frozenset()) -> str | None:
    """gis_api.places.service → places; gis_api.errors → core; the entry points → None."""
    if not parts:
        return None
    if (PACKAGE / parts[0]).is_dir():
        return parts[0]
    if parts[0] in ENTRY_POINTS:
        return None
    return parts[0] if parts[0] in own else "core"


def _imports(path: Path, package: list[str]) -> list[list[str]]:
    """The gis_api modules ``path`` imports, as name parts below gis_api."""
    found: list[list[str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name.split(".")[1:] for a in node.names if a.name.startswith("gis_api.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                mod = [*base, *(node.module.split(".") if node.module else [])]
                found += [mod] if mod else [[a.name] for a in node.names]
            elif node.module and (node.module == "gis_api" or node.module.startswith("gis_api.")):
                mod = node.module.split(".")[1:]
                found += [mod] if mod else [[a.name] for a in node.names]
    return found


def edges() -> dict[str, set[str]]:
    modules = {path.relative_to(PACKAGE).with_suffix("").parts: path for path in sorted(PACKAGE.rglob("*.py"))}
    imports = {rel: _imports(path, list(rel[:-1])) for rel, path in modules.items()}
    own = frozenset(rel[0] for rel, targets in imports.items() if len(rel) == 1 and rel[0] not in ENTRY_POINTS
                    and any(t and (PACKAGE / t[0]).is_dir() for t in targets))
    graph: dict[str, set[str]] = {}
    for rel, targets in imports.items():
        source = _area(list(rel), own)
        if source is None:
            continue
        graph.setdefault(source, set())
        for target in targets:
            area = _area(target, own)
            if area and area != source:
                graph[source].add(area)
    return graph


def mermaid(graph: dict[str, set[str]]) -> str:
    lines = ["```mermaid", "graph LR"]
    for source in sorted(graph):
        if not graph[source]:
            lines.append(f"  {source}")
        lines += [f"  {source} --> {target}" for target in sorted(graph[source])]
    lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    generated = mermaid(edges())
    done = sync(TARGET, BEGIN, END, generated, argv, "package_graph.py")
    if done is not None:
        return done
    print(generated, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
