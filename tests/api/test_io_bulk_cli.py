"""``diming import places`` with the bulk engine: the write transaction opens only when there is work to write."""

from __future__ import annotations

import argparse
import csv
import dataclasses
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


def _watch_derivation(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(state, in a transaction) of every backend when a derivation of names starts."""
    seen: list[tuple[str, bool]] = []

    class Watching(bulk.Derivation):
        def __init__(self, *a: Any, **kw: Any) -> None:
            with engine.connect() as c:
                seen.extend((str(st), bool(x)) for st, x in c.execute(text(_BACKENDS)))
            super().__init__(*a, **kw)

    monkeypatch.setattr(bulk, "Derivation", Watching)
    return seen


def test_cli_derives_before_it_opens_the_write_transaction(
    settings: Any, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI reads and checks the file and starts deriving the names (minutes for a large file) before it opens
    the write transaction, which then has work from its first statement: no transaction idle meanwhile (issue 12)."""
    f = _csv(tmp_path / "many.csv", engine, [(f"试点{i}村", "222") for i in range(30)])
    seen = _watch_derivation(engine, monkeypatch)
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


def test_cli_is_not_bound_by_the_http_feature_limit(
    settings: Any, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DIMING_LIMIT_IMPORT_MAX_FEATURES bounds one HTTP request; a file on the operator's disk may be larger
    (a 500k-row CLI import was refused at 200k). The CLI has its own bound, --max-features."""
    f = _csv(tmp_path / "more.csv", engine, [(f"限外{i}村", "222") for i in range(12)])
    small = dataclasses.replace(settings, limits=settings.limits.model_copy(update={"import_max_features": 5}))
    assert cli.cmd_import_places(small, _args(f, engine="auto")) == 0
    assert '"rows_read": 12' in capsys.readouterr().out
    from gis_api.errors import DimingError

    with pytest.raises(DimingError, match="more than 10 rows \\(--max-features\\)"):
        cli.cmd_import_places(small, _args(f, engine="auto", max_features=10))


def test_rest_import_derives_before_it_opens_the_write_transaction(
    settings: Any, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /api/v1/imports/places (bulk engine) ends the login's transaction and starts deriving the names before
    the write transaction opens, as the CLI does (issue 12); all or nothing still holds (a dry run keeps nothing)."""
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    from gis_api import auth
    from gis_api.app import create_app

    name = f"rest_bulk_{tmp_path.name[-12:]}"
    with Session(engine) as s:
        auth.create_user(s, name, "correct horse battery", ["officer"])
        token, _record, _user = auth.login(s, name, "correct horse battery", 1)
        s.commit()
    f = _csv(tmp_path / "rest.csv", engine, [(f"接口{i}村", "222") for i in range(30)])
    seen = _watch_derivation(engine, monkeypatch)
    with engine.connect() as c:
        before = c.execute(text("SELECT count(*) FROM places")).scalar_one()
    try:
        with TestClient(create_app(settings)) as client:
            r = client.post("/api/v1/imports/places", headers={"Authorization": f"Bearer {token}"},
                            files={"file": ("rest.csv", f.read_bytes())},
                            data={"reason": "rest bulk test", "engine": "bulk", "dry_run": "true"})
        assert r.status_code == 200, r.text
        assert r.json()["engine"] == "bulk" and r.json()["inserted"] == 30
        assert not any(in_xact for _state, in_xact in seen), seen
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM places")).scalar_one() == before
    finally:
        with engine.begin() as c:
            uid = c.execute(text("SELECT id FROM users WHERE username = :n"), {"n": name}).scalar_one()
            for t, col in c.execute(text(
                    "SELECT cl.relname, a.attname FROM pg_constraint k JOIN pg_class cl ON cl.oid = k.conrelid "
                    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
                    "WHERE k.contype = 'f' AND k.confrelid = 'users'::regclass")):
                c.execute(text(f'DELETE FROM "{t}" WHERE "{col}" = :u'), {"u": uid})
            c.execute(text("DELETE FROM users WHERE id = :u"), {"u": uid})
