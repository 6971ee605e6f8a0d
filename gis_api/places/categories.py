"""The category table (GB/T 18521-style codes) as data: ``data/categories.csv``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

CATEGORIES_CSV = Path(__file__).resolve().parent / "data" / "categories.csv"
NATURAL_VILLAGE = "242"  # RZ3: natural villages are romanised as one word


def load_categories(path: Path = CATEGORIES_CSV) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    out = []
    for r in rows:
        code = r["code"]
        parent = r["parent_code"] or None
        if parent and not code.startswith(parent):
            raise ValueError(f"category {code} does not extend its parent {parent}")
        out.append({
            "code": code, "name_zh": r["name_zh"], "name_en": r["name_en"], "census_class": r["census_class"] or None,
            "scope_kind": int(r["scope_kind"]), "dup_scope": r["dup_scope"], "parent_code": parent,
        })
    return out
