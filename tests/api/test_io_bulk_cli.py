"""``diming import places`` with the bulk engine: the write transaction opens only when there is work to write."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis_api.io import cli
from gis_api.places import bulk

_BACKENDS = ("SELECT state, xact_start IS NOT NULL FROM pg_stat_activity "
             "WHERE datname = current_database() AND application_name = 'diming' AND pid <> pg_backend_pid()")


def _args(path: Path, **kw: Any) -> argparse.Namespace:
    base = dict(file=str(path), actor="cli:test", reason="bulk cli test", format=None, encoding=None, layer=None,
                crs=None, category=None, lon_field=None, lat_field=None, wkt_field=None, source="cli-bulk",
                valid_from=None, engine="bulk", dry_run=True)
    return argparse.Namespace(**{**base, **kw})


def _csv(path: Path, engine: Engine, rows: list[tuple[str, str]]) -> Path:
    with engine.connect() as c:
        x, y = c.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM divisions "
                              "WHERE code = '340122100' AND valid_to IS NULL) s")).one()
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "category_code", "lon", "lat"])
        for i, (name, cat) in enumerate(rows):
            w.writerow([name, cat, x + i * 1e-5, y])
    return path


def test_cli_derives_before_it_opens_the_write_transaction(
    settings: Any, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the names are derived (minutes for a large file) the CLI holds no transaction open (issue 12)."""
    f = _csv(tmp_path / "many.csv", engine, [(f"试点{i}村", "222") for i in range(30)])
    seen: list[tuple[str, bool]] = []
    real = bulk.derive_all

    def watching(keys: Any, workers: int | None = None) -> Any:
        with engine.connect() as c:
            seen.extend((str(s), bool(x)) for s, x in c.execute(text(_BACKENDS)))
        return real(keys, workers)

    monkeypatch.setattr(bulk, "derive_all", watching)
    writes: list[bool] = []
    real_load = bulk.load

    def loading(session: Any, prep: Any, **kw: Any) -> Any:
        report = real_load(session, prep, **kw)
        with engine.connect() as c:  # now the write transaction is open (dry run: rolled back by the CLI)
            writes.extend(bool(x) for _s, x in c.execute(text(_BACKENDS)))
        return report

    monkeypatch.setattr(bulk, "load", loading)
    assert cli.cmd_import_places(settings, _args(f)) == 0
    assert seen, "the CLI's connection was not seen"  # it had read the categories before
    assert not any(in_xact for _state, in_xact in seen), seen
    # exactly one backend in a transaction: the CLI's write (idle pooled connections of earlier tests may be seen)
    assert writes.count(True) == 1, writes


def test_cli_bulk_import_all_or_nothing(settings: Any, engine: Engine, tmp_path: Path) -> None:
    f = _csv(tmp_path / "bad.csv", engine, [("甲村", "222"), ("乙村", "no-such-category"), ("丙村", "222")])
    with engine.connect() as c:
        before = c.execute(text("SELECT count(*) FROM places")).scalar_one()
    assert cli.cmd_import_places(settings, _args(f, dry_run=False)) == 2
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM places")).scalar_one() == before


def test_csv_points_built_in_batches_keep_order_rows_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gis_api.io import formats

    monkeypatch.setattr(formats, "TABLE_BATCH", 2)
    f = tmp_path / "p.csv"
    f.write_text("name,x,y\n甲,117.1,31.1\n乙,bad,31.2\n丙,117.3,31.3\n丁,,\n戊,500000,3500000\n", encoding="utf-8")
    recs = list(formats.read(f, "csv"))
    assert [(r.row, r.props["name"]) for r in recs] == [(2, "甲"), (3, "乙"), (4, "丙"), (5, "丁"), (6, "戊")]
    assert [(g.x, g.y) if g is not None else None for g in (r.geometry for r in recs)] == [
        (117.1, 31.1), None, (117.3, 31.3), None, (500000.0, 3500000.0)]
    assert [bool(r.errors) for r in recs] == [False, True, False, False, False]
    projected = list(formats.read(f, "csv", crs="EPSG:4549"))  # CGCS2000 / 3-degree GK CM 120E: metres
    x, y = projected[4].geometry.x, projected[4].geometry.y
    assert abs(x - 120.0) < 1e-6 and 31 < y < 32.5  # the central meridian at the false easting
