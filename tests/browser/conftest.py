"""Browser journeys against a real server and database.

The live server writes for real (commits), so it gets a database of its own — ``<test db>_browser``, migrated
and loaded with the demo by the same CLI command people use — and the rest of the suite, which rolls every
test back in the shared test database, never sees those writes. Chromium is Debian's, driven by Playwright
through ``executable_path``; every request the page makes is recorded so a test can prove it stayed local.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.app import create_app
from gis_api.db import CONNECTION_OPTIONS
from gis_api.settings import Settings
from gis_api.ui_config import UiSettings, api_paths
from gis_api.ui_config import router as ui_config_router
from tests.live import load_demo_cli, scratch_database, serve

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--lang=zh-CN",
]
PASSWORD = "correct horse battery"
USERS = {"wang": ["officer"], "li": ["officer"], "zhao": ["patrol"], "sun": ["planner"], "qian": ["reviewer"]}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make test installs it)")


@pytest.fixture(scope="session")
def browser_settings(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a database of the browser tests' own, migrated and loaded with the demo."""
    own = scratch_database(settings, "browser")
    load_demo_cli(own)
    engine = create_engine(own, connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as session:
        for name, roles in USERS.items():
            auth.create_user(session, name, PASSWORD, roles)
        session.commit()
    engine.dispose()
    yield replace(settings, db=settings.db.model_copy(update={"database_url": own}))


@dataclass
class Live:
    url: str
    app: FastAPI

    def token(self, username: str) -> str:
        r = httpx.post(f"{self.url}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        r.raise_for_status()
        return str(r.json()["access_token"])

    def client(self, username: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def has(self, path: str) -> bool:
        return path in api_paths(self.app)


@pytest.fixture(scope="session")
def live(browser_settings: Settings) -> Iterator[Live]:
    app = create_app(browser_settings)
    if "/api/v1/ui-config" not in api_paths(app):
        app.include_router(ui_config_router)  # until app.py wires it
        app.openapi_schema = None
    app.state.ui_settings = UiSettings(tianditu_key=None)  # no base map unless a test sets one
    with serve(app) as url:
        yield Live(url, app)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class PageRun:
    """A page plus everything it requested and every script error it raised."""

    page: Any
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def outside(self) -> list[str]:
        return [u for u in self.requests if not (u.startswith(self.base) or u.startswith(("data:", "blob:")))]

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-loaded=true]", timeout=30_000)

    def login(self, username: str) -> None:
        page = self.page
        page.click("#login-btn")
        page.fill("#login-username", username)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector(f"body[data-user={username}]", timeout=10_000)


@pytest.fixture
def run(browser: Any, live: Live) -> Iterator[PageRun]:
    """A fresh browser context (own sessionStorage) whose requests are recorded; external ones are refused."""
    # The browser's local date must be the server's "today" (gis_api.clock): a Feidong user is in its zone.
    context = browser.new_context(viewport={"width": 1400, "height": 860}, locale="zh-CN", accept_downloads=True,
                                  timezone_id=clock.zone().key)
    page = context.new_page()
    r = PageRun(page=page, base=live.url)
    page.on("request", lambda req: r.requests.append(req.url))
    page.on("pageerror", lambda exc: r.errors.append(str(exc)))
    # Nothing may leave the machine: a request elsewhere is recorded (and fails the test) but never sent.
    context.route(lambda u: not u.startswith(live.url), lambda route: route.abort())
    page.set_default_timeout(15_000)
    yield r
    context.close()


@pytest.fixture
def retry() -> Callable[..., Any]:
    """Call ``fn`` until it returns something truthy (the server writes in another thread)."""

    def call(fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = fn()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    return call
