"""The COPY stream of the bulk importer carries every name exactly: backslashes, quotes, SQL and markup are text."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.places.bulk import PlaceRow, import_places


def test_hostile_names_arrive_as_written(session: Session) -> None:
    x, y = (float(v) for v in session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM divisions "
        "WHERE code = '340122100' AND valid_to IS NULL) s")).one())
    names = ["王\\村", "\\N", "李村\\\\", "'); DROP TABLE places; --", "<b>张村</b>", "赵村\\t"]
    rows = [PlaceRow(n, "242", lon=x + i * 1e-5, lat=y) for i, n in enumerate(names)]
    rows.append(PlaceRow("钱村", "242", lon=x, lat=y, romanized="Qian\\cun"))
    report = import_places(session, rows, actor="wang\\li", reason="copy escaping", source="test-copy",
                           valid_from=dt.date(2025, 6, 1))
    assert report.ok, report.errors
    got = session.execute(text("SELECT name, romanized, romanized_by FROM places WHERE source = 'test-copy' "
                               "ORDER BY place_id")).all()
    assert [g.name for g in got] == [*names, "钱村"]
    assert (got[-1].romanized, got[-1].romanized_by) == ("Qian\\cun", "wang\\li")
    assert {g.romanized_by for g in got[:-1]} == {"auto"}
