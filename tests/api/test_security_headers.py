"""Security headers on every response (gis_api/security_headers.py), pages without inline script, HTML
documents rendered from data sandboxed, the folium report allowed exactly its own scripts, and no HTML sink
in the map's own JavaScript. The browser side (hostile names in every layer) is tests/browser/test_hostile.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gis_api.coverage import report
from gis_api.security_headers import TIANDITU_HOSTS, document_csp
from gis_api.ui_config import UiSettings

JS = Path(__file__).resolve().parents[2] / "map_ui" / "static" / "js"
HOSTILE = 'x`${window.__pwned=1}</script><img src=x onerror="window.__pwned=2"><svg onload=alert(1)>'


def csp(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    out: dict[str, list[str]] = {}
    for part in response.headers["content-security-policy"].split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_headers(response: Any) -> dict[str, list[str]]:
    h = response.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] in ("no-referrer", "strict-origin")
    policy = csp(response)
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert "data:" not in policy["script-src"] and "*" not in policy["script-src"]
    return policy


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"), ("GET", "/docs"), ("GET", "/api/v1/health"), ("GET", "/ogc"), ("GET", "/ogc/"),
    ("GET", "/openapi.json"), ("GET", "/static/js/main.js"), ("GET", "/static/vendor/leaflet/leaflet.js"),
    ("GET", "/api/v1/ui-config"), ("GET", "/api/v1/divisions/nope"), ("GET", "/no/such/path"),
    ("POST", "/api/v1/places"),  # 401: errors carry the headers too
])
def test_headers_on_every_response(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, follow_redirects=False)
    assert r.status_code < 500, r.text
    policy = assert_headers(r)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert not any("tianditu" in s for s in policy["img-src"])  # no key, no tile host
    if path in ("/", "/docs"):
        assert "sandbox" not in policy  # the app's own pages run their (static) scripts


def test_headers_on_an_unhandled_error(client: TestClient) -> None:
    """A bug's 500 comes from Starlette's outermost ServerErrorMiddleware: the headers are on it too."""
    app = cast(FastAPI, client.app)

    @app.get("/__boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    r = client.get("/__boom")
    assert r.status_code == 500
    assert assert_headers(r)["script-src"] == ["'self'"]


def test_tianditu_tiles_allowed_only_with_a_key(client: TestClient) -> None:
    app: Any = client.app
    app.state.ui_settings = UiSettings(tianditu_key="k-123")
    policy = csp(client.get("/"))
    assert set(TIANDITU_HOSTS) <= set(policy["img-src"])
    assert not any("tianditu" in s for d, s_ in policy.items() if d != "img-src" for s in s_)
    app.state.ui_settings = UiSettings(tianditu_key=" ")
    assert not any("tianditu" in s for s in csp(client.get("/"))["img-src"])


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.handlers += [k for k in a if k.startswith("on")]
        self.handlers += [f"{k}={v}" for k, v in a.items() if (v or "").strip().lower().startswith("javascript:")]
        if tag == "script":
            self._in_script = True
            if a.get("src"):
                self.srcs.append(str(a["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_pages_have_no_inline_script(client: TestClient, path: str) -> None:
    page = client.get(path)
    parsed = _Scripts()
    parsed.feed(page.text)
    assert parsed.inline == [] and parsed.handlers == []
    assert parsed.srcs, "the page loads its scripts from files"
    for src in parsed.srcs:
        assert src.startswith("/static/"), src
        assert client.get(src).status_code == 200, src


def test_documents_from_data_are_sandboxed(client: TestClient) -> None:
    r = client.get("/api/v1/boundaries/report", params={"as_of": "2026-06-01"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = assert_headers(r)
    assert "sandbox" in policy and policy["sandbox"] == []  # no script, opaque origin


def _hashes(page: str) -> set[str]:
    return {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in re.findall(r"<script[^>]*>(.*?)</script>", page, re.S)}


def test_coverage_report_runs_only_its_own_scripts(client: TestClient) -> None:
    r = client.post("/api/v1/coverage", params={"format": "html"},
                    json={"facility_kind": "township_social_work_station", "radius_m": 3000})
    assert r.status_code == 200, r.text
    policy = assert_headers(r)
    assert set(policy["script-src"]) == _hashes(r.text) and len(policy["script-src"]) >= 2
    assert policy["sandbox"] == ["allow-scripts"]  # never the app's origin, even when opened inline
    assert policy["default-src"] == ["'none'"] and policy["img-src"] == ["data:"]
    # The same policy travels inside the file (without the header-only directives) for when it is saved.
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', r.text)
    assert meta
    in_file = dict((d.split()[0], d.split()[1:]) for d in meta.group(1).split(";") if d.strip())
    assert "sandbox" not in in_file and in_file["script-src"] == policy["script-src"]


def _report(name: str) -> str:
    result = {"query": {"facility_kind_name": name, "distance": {"mode": "network", "network_m": 900, "network": name},
                        "as_of": "2026-01-01", "demand": {"source": name}},
              "by_township": [{"code": "340122100", "name": name, "share_covered": 0.5}],
              "uncovered": [{"code": "v2", "name": name, "population": 7}],
              "facility_load": [{"facility_id": 1, "population_served": 5}],
              "share_covered": 0.5, "population_covered": 5, "population_total": 12}
    demand = [{"code": "v1", "name": name, "lat": 31.8, "lon": 117.4, "population": 5, "covered": True,
               "nearest_facility": name, "distance_m": 3},
              {"code": "v2", "name": name, "lat": 31.9, "lon": 117.5, "population": 7, "covered": False}]
    supply = [{"facility_id": 1, "name": name, "lat": 31.81, "lon": 117.41, "capacity": 3}]
    ring = [[117.3, 31.7], [117.6, 31.7], [117.6, 32.0], [117.3, 31.7]]
    town = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"code": "340122100", "name": name}}
    towns = {"type": "FeatureCollection", "features": [town]}
    sites = [{"rank": 1, "name": name, "code": "v2", "lat": 31.9, "lon": 117.5, "added_population": 7}]
    return report.build(name, result, demand, supply, townships=towns, sites=sites)


def test_report_keeps_hostile_names_out_of_markup_and_script() -> None:
    page = _report(HOSTILE)
    # The name appears only escaped: never as a tag, never able to close a script or a template literal.
    assert "<img src=x" not in page and "<svg onload" not in page
    for script in re.findall(r"<script[^>]*>(.*?)</script>", page, re.S):
        # Outside JSON strings (the GeoJSON data) no backtick or ${ of the name is left unescaped: the tooltip
        # text cannot end folium's template literal or interpolate into it.
        code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', script)
        assert not re.search(r"(?<!\\)\$\{window", code), code[:2000]
    assert "x\\`\\${window.__pwned=1}&lt;/script&gt;" in page  # the tooltip's escaped text
    assert "&lt;img src=x onerror=" in page
    # The hostile text adds no script element: the policy allows the report's own scripts only.
    assert len(re.findall(r"<script", page)) == len(re.findall(r"<script", _report("店埠镇"))) == len(_hashes(page))
    assert "'unsafe-inline'" not in document_csp(page).split("script-src", 1)[1].split(";", 1)[0]


def test_map_scripts_have_no_html_sinks() -> None:
    """Stored strings reach the DOM as text only: no HTML-parsing sink in the page's own code."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|srcdoc"
                       r"|html:\s*[`'\"]|bind(?:Tooltip|Popup)\(\s*[`'\"]|setContent\(\s*[`'\"]")
    found = [f"{p.relative_to(JS)}:{i}: {line.strip()}" for p in sorted(JS.rglob("*.js"))
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if sinks.search(line) and not line.lstrip().startswith("//")]
    assert found == []
    # Leaflet treats a string in a tooltip or popup as HTML; the guard that makes it text loads first.
    main = (JS / "main.js").read_text(encoding="utf-8")
    assert main.index('import "./leaflet-text.js"') < main.index("import {")
