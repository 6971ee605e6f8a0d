"""Schemathesis over both OpenAPI documents (/openapi.json and the OGC API's /ogc/api), anonymous and as an
admin, against a live server on a scratch database: no 5xx, and every status, media type and body the
documents declare (issue 10 §6).

Bounded in time: a fixed seed (derandomize) and ``FUZZ_MAX_EXAMPLES`` examples per operation and phase
(``DIMING_FUZZ_EXAMPLES`` overrides it). The scratch database is a copy of the demo that the fuzzer may
write to freely; it is dropped afterwards.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gis_api import auth
from gis_api.app import create_app
from gis_api.db import CONNECTION_OPTIONS, drop_database
from gis_api.ogc import openapi as ogc_openapi
from gis_api.ogc.collections import all_collections
from gis_api.ogc.settings import OgcSettings
from gis_api.settings import Settings, load_settings
from tests.fuzz.conftest import FUZZ_SUMMARY
from tests.live import load_demo_data, scratch_database, serve

FUZZ_MAX_EXAMPLES = int(os.environ.get("DIMING_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_MAX_EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Live:
    url: str
    token: str
    # per run: operations seen, requests sent, failing operations
    operations: dict[str, set[str]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    failures: dict[str, set[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def live(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Live]:
    url = scratch_database(settings, "fuzz")
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as session:
        load_demo_data(session)
        auth.create_user(session, "fuzz-admin", "correct horse battery staple", ["admin"])
        token, _record, _user = auth.login(session, "fuzz-admin", "correct horse battery staple", 2)
        session.commit()
    engine.dispose()
    app = create_app(replace(settings, db=settings.db.model_copy(update={"database_url": url})))
    with serve(app, lifespan="off", log_level="error") as base:
        state = Live(url=base, token=token)
        yield state
    app.state.engine.dispose()
    drop_database(url)
    summary = request.config.stash.setdefault(FUZZ_SUMMARY, [])
    for run in sorted(state.operations):
        summary.append(f"{run}: {len(state.operations[run])} operations, {state.requests[run]} requests "
                       f"(test cases), {len(state.failures.get(run, set()))} failing operations")


def _documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The two documents exactly as the server builds them (the schemas parametrize tests at collection time,
    before any server runs; schemathesis's lazy ``from_fixture`` does not work with pytest 9)."""
    app = create_app(load_settings())
    rest_doc = app.openapi()
    current = app.state.settings
    ogc_doc = ogc_openapi.document(OGC_PLACEHOLDER, all_collections(), current.server.max_limit,
                                   OgcSettings().default_limit, current.auth.public_read)
    app.state.engine.dispose()
    return rest_doc, ogc_doc


OGC_PLACEHOLDER = "http://fuzz.invalid/ogc"
_REST_DOC, _OGC_DOC = _documents()
rest = schemathesis.openapi.from_dict(_REST_DOC)
ogc = schemathesis.openapi.from_dict(_OGC_DOC)
for _schema in (rest, ogc):
    # The coverage phase would also send every other HTTP method to each path: Starlette's 405 for those is
    # not what these documents describe, and it would double the run time.
    _schema.config.phases.coverage.unexpected_methods = set()


WRITES = ["POST", "PUT", "PATCH", "DELETE"]


def _login_required(ctx: Any) -> bool:
    op = _REST_DOC["paths"][ctx.operation.path][ctx.operation.method.lower()]
    security = op.get("security", [])
    return bool(security) and {} not in security


def _admin_relevant(ctx: Any) -> bool:
    return _login_required(ctx) or ctx.operation.method.upper() in WRITES


# Bounded in time, so each run fuzzes where its token makes a difference: without a token, what anyone can call
# (an operation that needs a login answers 401 before it reads anything — tests/api/test_no5xx.py checks that);
# with the admin token, what needs a login and every write. A public read answers an admin as it answers anyone.
rest_public = rest.exclude(func=_login_required)
rest_admin = rest.include(func=_admin_relevant)
ogc_writes = ogc.include(method=WRITES)


def test_documents_are_those_served(live: Live) -> None:
    """The fuzzed documents are the served ones (only the OGC server URL differs)."""
    import httpx

    assert httpx.get(f"{live.url}/openapi.json").json() == _REST_DOC
    served = httpx.get(f"{live.url}/ogc/api").json()
    assert served["servers"] == [{"url": f"{live.url}/ogc"}]
    assert {**served, "servers": _OGC_DOC["servers"]} == _OGC_DOC


def _run(live: Live, run: str, case: Any, admin: bool, base: str = "") -> None:
    op = case.operation.label
    live.operations.setdefault(run, set()).add(op)
    live.requests[run] += 1
    headers = {"Authorization": f"Bearer {live.token}"} if admin else None
    try:
        case.call_and_validate(base_url=live.url + base, headers=headers, checks=CHECKS, timeout=60)
    except BaseException:
        live.failures.setdefault(run, set()).add(op)
        raise


@rest_public.parametrize()
@FUZZ_SETTINGS
def test_openapi_anonymous(case: Any, live: Live) -> None:
    _run(live, "/openapi.json anonymous", case, admin=False)


@rest_admin.parametrize()
@FUZZ_SETTINGS
def test_openapi_admin(case: Any, live: Live) -> None:
    _run(live, "/openapi.json admin", case, admin=True)


@ogc.parametrize()
@FUZZ_SETTINGS
def test_ogc_anonymous(case: Any, live: Live) -> None:
    _run(live, "/ogc/api anonymous", case, admin=False, base="/ogc")


@ogc_writes.parametrize()
@FUZZ_SETTINGS
def test_ogc_admin(case: Any, live: Live) -> None:
    _run(live, "/ogc/api admin", case, admin=True, base="/ogc")
