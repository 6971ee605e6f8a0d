"""Exports cannot attack whoever opens them (OWASP CSV injection): hostile text stored through the API comes out
of every CSV and XLSX — HTTP routes and CLI — as inert text whose value can be read back, numbers stay numbers,
and no XLSX holds a formula."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gis_api.io import safe_cells
from gis_api.settings import Settings

Login = Callable[..., dict[str, str]]

HOSTILE = ('=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")
# Names are stored trimmed ("\t=1" becomes "=1", still a formula); free text (remarks, meaning) is kept as typed.
NAMES = tuple(h.strip() for h in HOSTILE)
NORMAL = "青龙岗路"
ELEVATION = -3.5  # a genuine negative number: must stay a bare number
DIANBU = [117.4571, 31.8774]  # inside the demo 店埠镇


# -- how a spreadsheet would read the files (written independently of gis_api.io.safe_cells) ---------------------

_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


def formula_like(field: str) -> bool:
    """What Excel/LibreOffice would take for a formula: starts with = + - @ tab CR and is not a plain number."""
    return field[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(field)


def csv_rows(raw: str | bytes) -> list[list[str]]:
    text_ = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    assert text_.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text_[1:], newline="")))


def check_csv(raw: str | bytes, hostile: tuple[str, ...] = HOSTILE) -> list[list[str]]:
    rows = csv_rows(raw)
    fields = [f for row in rows for f in row]
    dangerous = [f for f in fields if formula_like(f)]
    assert dangerous == [], f"cells a spreadsheet would run: {dangerous}"
    for h in hostile:  # each hostile value is there, escaped, and recoverable by dropping one leading quote
        assert "'" + h in fields, f"{h!r} missing or not escaped"
        assert h not in fields
    return rows


def formula_cells(content: bytes) -> int:
    """Formula cells in an XLSX: cells openpyxl reads as formulas, and <f> elements in the raw sheet XML."""
    wb = load_workbook(io.BytesIO(content))
    by_openpyxl = sum(1 for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f")
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        by_xml = sum(len(re.findall(rb"<(?:\w+:)?f[\s>/]", z.read(n)))
                     for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    assert by_openpyxl == by_xml
    return by_xml


def check_xlsx(content: bytes, hostile: tuple[str, ...] = HOSTILE) -> list[list[Any]]:
    assert formula_cells(content) == 0
    ws = load_workbook(io.BytesIO(content)).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row]
    for h in hostile:  # the visible value is the stored one, as a text cell that stays text when edited
        found = [c for c in cells if c.value == h]
        assert found, f"{h!r} missing"
        assert all(c.data_type == "s" and c.quotePrefix for c in found)
    return [[c.value for c in row] for row in ws.iter_rows()]


def column(rows: list[list[Any]], heading: str, header_row: int = 0) -> list[Any]:
    i = rows[header_row].index(heading)
    return [r[i] for r in rows[header_row + 1:]]


# -- hostile data, stored through the API -----------------------------------------------------------------------

@pytest.fixture
def hostile(client: TestClient, login: Login, session: Session) -> dict[str, Any]:
    officer, planner = login("officer"), login("planner")
    places = []
    for i, h in enumerate((*HOSTILE, NORMAL)):
        r = client.post("/api/v1/places", headers=officer, json={
            "name": h, "category_code": "122", "reason": "test", "source": "test",
            "geometry": {"type": "Point", "coordinates": [DIANBU[0] + 0.001 * i, DIANBU[1]]},
            "meaning": h, "remarks": h, "elevation_m": ELEVATION, "established_year": 2001})
        assert r.status_code == 201, r.text
        places.append(r.json()["id"])
    r = client.post("/api/v1/names/campaign/run", json={}, headers=officer)
    assert r.status_code == 200, r.text
    flagged = {f["name"] for f in client.get("/api/v1/names/campaign").json()["items"]}
    # A facility named after each hostile string, standing on a village (a demand point) so it is the nearest.
    villages = session.execute(text(
        "SELECT code, ST_X(geom), ST_Y(geom) FROM divisions WHERE level = 'village' AND valid_to IS NULL "
        "ORDER BY code LIMIT :n"), {"n": len(HOSTILE)}).all()
    for h, (_code, lon, lat) in zip(HOSTILE, villages, strict=True):
        r = client.post("/api/v1/facilities", headers=planner, json={
            "name": h, "kind": "township_social_work_station", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "capacity": 40, "staff": 4, "opened_on": "2024-03-01", "reason": "test", "source": "test"})
        assert r.status_code == 201, r.text
    # Boundary lines renamed to the hostile strings.
    # Boundary lines of the county (those the 平安边界 report lists by default) renamed to the hostile strings.
    lines = client.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}).json()["features"]
    lines = lines[:len(HOSTILE)]
    assert len(lines) == len(HOSTILE)
    for h, f in zip(HOSTILE, lines, strict=True):
        tag = client.get(f"/api/v1/boundaries/{f['id']}").headers["ETag"]
        r = client.patch(f"/api/v1/boundaries/{f['id']}", headers={**officer, "If-Match": tag},
                         json={"name": h, "reason": "test"})
        assert r.status_code == 200, r.text
    return {"places": places, "flagged": flagged}


# -- HTTP ----------------------------------------------------------------------------------------------------------

def test_places_csv_and_register_xlsx(client: TestClient, hostile: dict[str, Any]) -> None:
    r = client.get("/api/v1/exports/places", params={"format": "csv"})
    assert r.status_code == 200
    rows = check_csv(r.content)
    mine = [row for row in rows[1:] if row[0] in {str(i) for i in hostile["places"]}]
    assert len(mine) == len(HOSTILE) + 1
    assert sorted(column([rows[0], *mine], "name")) == sorted(["'" + h for h in NAMES] + [NORMAL])
    assert sorted(column([rows[0], *mine], "remarks")) == sorted(["'" + h for h in HOSTILE] + [NORMAL])
    assert column([rows[0], *mine], "elevation_m") == ["-3.5"] * len(mine)
    # Numbers are written bare (a spreadsheet reads them as numbers), text is quoted.
    for line in r.content.decode("utf-8").split("\r\n"):
        if line.startswith(f"{hostile['places'][0]},"):
            assert ",-3.5," in line and ',"\'=HYPERLINK(""http://x"",""y"")",' in line

    r = client.get("/api/v1/exports/places", params={"format": "xlsx"})
    assert r.status_code == 200
    rows = check_xlsx(r.content)
    ids = column(rows, "代码")
    mine = [row for row, pid in zip(rows[1:], ids, strict=True) if pid in hostile["places"]]
    assert sorted(column([rows[0], *mine], "标准名称")) == sorted([*NAMES, NORMAL])
    assert sorted(column([rows[0], *mine], "备注")) == sorted([*HOSTILE, NORMAL])
    assert column([rows[0], *mine], "高程") == [ELEVATION] * len(mine)  # numeric cells, not text
    assert column([rows[0], *mine], "设立年份") == [2001] * len(mine)


@pytest.mark.parametrize(("collection", "stored"), [("facilities", NAMES), ("boundary-lines", HOSTILE)])
def test_collection_csv_and_xlsx(client: TestClient, hostile: dict[str, Any], collection: str,
                                 stored: tuple[str, ...]) -> None:
    csv_resp = client.get(f"/api/v1/exports/{collection}", params={"format": "csv"})
    assert csv_resp.status_code == 200
    rows = check_csv(csv_resp.content, stored)
    xlsx = client.get(f"/api/v1/exports/{collection}", params={"format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = check_xlsx(xlsx.content, stored)
    assert {"'" + h for h in stored} <= set(column(rows, "name"))
    numeric = "capacity" if collection == "facilities" else "length_m"
    assert all(isinstance(v, int | float) for v in column(sheet, numeric) if v is not None)
    assert all(_NUMBER.fullmatch(v) for v in column(rows, numeric) if v)


def test_campaign_csv_and_xlsx(client: TestClient, hostile: dict[str, Any]) -> None:
    flagged = tuple(h for h in NAMES if h in hostile["flagged"])
    assert len(flagged) >= 4, hostile["flagged"] & set(NAMES)  # the checks flag non-Chinese names
    r = client.get("/api/v1/names/campaign", params={"format": "csv"})
    assert r.status_code == 200 and r.text.startswith("\ufeff标记编号")
    rows = check_csv(r.content, flagged)
    assert all(_NUMBER.fullmatch(v) for v in column(rows, "标记编号"))
    r = client.get("/api/v1/names/campaign", params={"format": "xlsx"})
    assert r.status_code == 200
    sheet = check_xlsx(r.content, flagged)
    assert all(isinstance(v, int) for v in column(sheet, "标记编号"))


def test_coverage_csv(client: TestClient, hostile: dict[str, Any]) -> None:
    body = {"facility_kind": "township_social_work_station", "radius_m": 3000}
    r = client.post("/api/v1/coverage", params={"format": "csv"}, json=body)
    assert r.status_code == 200, r.text
    rows = check_csv(r.content, NAMES)  # the hostile facilities are the nearest of their villages
    assert all(_NUMBER.fullmatch(v) for v in column(rows, "population"))
    assert all(_NUMBER.fullmatch(v) for v in column(rows, "distance_m") if v)
    r = client.post("/api/v1/coverage/accessibility", params={"format": "csv"}, json=body)
    assert r.status_code == 200, r.text
    rows = check_csv(r.content, NAMES)
    assert all(_NUMBER.fullmatch(v) for v in column(rows, "score_per_1000"))


def test_boundary_report_csv(client: TestClient, hostile: dict[str, Any]) -> None:
    r = client.get("/api/v1/boundaries/report", params={"format": "csv"})
    assert r.status_code == 200, r.text
    rows = check_csv(r.content)  # line names are kept as typed
    assert all(_NUMBER.fullmatch(v) for v in column(rows, "length_km", header_row=1))


# -- CLI: the same writers, through ``diming …`` ------------------------------------------------------------------

@pytest.fixture
def cli(settings: Settings, connection: Connection, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., int]]:
    """``diming`` with its sessions on this test's connection, so it sees the API's uncommitted writes."""
    from gis_api import cli as main_cli
    from gis_api.boundaries import cli as boundaries_cli
    from gis_api.coverage import cli as coverage_cli
    from gis_api.io import cli as io_cli
    from gis_api.places import cli as places_cli

    def factory(_engine: object) -> Callable[[], Session]:
        return lambda: Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    for mod in (boundaries_cli, coverage_cli, io_cli, places_cli):
        monkeypatch.setattr(mod, "make_engine", lambda *_a, **_k: None)
        monkeypatch.setattr(mod, "make_sessionmaker", factory)
    monkeypatch.setenv("DIMING_DATABASE_URL", settings.db.database_url or "")
    yield main_cli.main


def test_cli_exports(cli: Callable[..., int], hostile: dict[str, Any], tmp_path: Path) -> None:
    flagged = tuple(h for h in NAMES if h in hostile["flagged"])
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"places.{fmt}"
        assert cli(["export", "places", str(out)]) == 0
        check_csv(out.read_bytes()) if fmt == "csv" else check_xlsx(out.read_bytes())
        out = tmp_path / f"campaign.{fmt}"
        assert cli(["campaign", "export", str(out)]) == 0
        check_csv(out.read_bytes(), flagged) if fmt == "csv" else check_xlsx(out.read_bytes(), flagged)
    out = tmp_path / "cov.csv"
    assert cli(["coverage", "run", "--kind", "township_social_work_station", "--radius", "3000", "-o", str(out)]) == 0
    check_csv(out.read_bytes(), NAMES)
    out = tmp_path / "report.csv"
    assert cli(["boundaries", "report", "--format", "csv", "-o", str(out)]) == 0
    check_csv(out.read_bytes())


# -- the rule itself -----------------------------------------------------------------------------------------------

def test_rule_escapes_text_only() -> None:
    assert [safe_cells.csv_value(h) for h in HOSTILE] == ["'" + h for h in HOSTILE]
    assert safe_cells.csv_value(-3.5) == -3.5 and safe_cells.csv_value("-3.5") == "-3.5"  # numbers untouched
    assert safe_cells.csv_value("-") == "'-" and safe_cells.csv_value("-1e5") == "'-1e5"
    assert safe_cells.csv_value("a=1") == "a=1" and safe_cells.csv_value(NORMAL) == NORMAL
    body = safe_cells.csv_text(["a", "b"], [["x;=1", 2], [None, "@x"]])
    assert body == '\ufeffa,b\r\n"x;=1",2\r\n"","\'@x"\r\n'  # text quoted: ';' cannot split a cell
    # Control characters XML cannot carry would make openpyxl fail the whole export: replaced, not fatal.
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("t")
    ws.append(safe_cells.xlsx_row(ws, ["a\x07b", "=\x01", 1]))
    buf = io.BytesIO()
    wb.save(buf)
    assert [c.value for c in load_workbook(buf).worksheets[0][1]] == ["a\ufffdb", "=\ufffd", 1]
