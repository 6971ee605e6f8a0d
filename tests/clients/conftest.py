"""A live server for the real GIS clients (GDAL, OWSLib, QGIS), on a database of their own.

The database ``<test db>_clients`` is migrated and loaded with the demo in-process (the loaders the suite's test
database uses), then the census-register fields that the demo leaves empty (登记时间, 命名时间, 设立年份, 标牌个数,
高程) get values on every place point: clients that type fields from the data they see (QGIS 3.22 reads only
``items?limit=10``) can only show that dates and whole numbers arrive typed when some of them are not null.
The rest of the suite never sees this database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gis_api.app import create_app
from gis_api.audit.service import set_context
from gis_api.db import CONNECTION_OPTIONS
from gis_api.settings import Settings
from tests.clients.live import ClientsServer
from tests.live import load_demo_data, scratch_database, serve

# Values for the census fields of every place point (see the module docstring).
CENSUS_VALUES = """
UPDATE places t SET registered_on = DATE '2019-06-01' + (t.place_id % 400)::int,
                    named_on = DATE '1985-01-01' + (t.place_id * 37 % 9000)::int,
                    established_year = 1950 + t.place_id % 70,
                    sign_count = t.place_id % 5,
                    elevation_m = 10.5 + t.place_id % 40
 WHERE GeometryType(t.geom) = 'POINT' AND t.valid_to IS NULL
"""


@pytest.fixture(scope="session")
def clients_server(settings: Settings) -> Iterator[ClientsServer]:
    own = scratch_database(settings, "clients")
    engine = create_engine(own, connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as session:
        load_demo_data(session)
        set_context(session, "tests", "census fields for the client tests")
        session.execute(text(CENSUS_VALUES))
        session.commit()
    app = create_app(replace(settings, db=settings.db.model_copy(update={"database_url": own})))
    with serve(app, lifespan="off") as base:
        yield ClientsServer(base, engine)
    engine.dispose()
