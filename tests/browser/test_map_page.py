"""The map page in a real headless Chromium against a running server: it draws Feidong and fetches
nothing from outside the server. Screenshots go to artifacts/ for people to look at."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from gis_api.app import create_app
from gis_api.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make test installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(settings: Settings, engine: object) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_map_draws_feidong_and_stays_local(server: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("request", lambda req: requests.append(req.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server + "/")
        page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
        status = page.inner_text("#status")
        assert "10 / 20 / 252" in status
        assert page.locator("path.leaflet-interactive").count() >= 30  # 10 counties + 20 townships drawn
        page.screenshot(path=str(ARTIFACTS / "map_zh.png"))
        page.click("#lang")
        assert page.inner_text("header h1").startswith("Place names")
        page.screenshot(path=str(ARTIFACTS / "map_en.png"))
        page.goto(server + "/docs")
        page.wait_for_selector(".swagger-ui .info", timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "docs.png"))
        browser.close()
    assert errors == []
    outside = [u for u in requests if not u.startswith(server) and not u.startswith("data:")]
    assert outside == [], outside
