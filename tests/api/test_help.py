"""/help: the docs and manuals served offline (gis_api/help), and error bodies linking to their rule's entry."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis_api.help import routes as help_routes
from gis_api.help.render import DOCS, MANUAL_IMAGES, documents, manuals, render_text
from tests.api.test_security_headers import assert_headers


class _Page(HTMLParser):
    """ids, links, images and script tags of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        if tag == "img" and a.get("src"):
            self.images.append(str(a["src"]))
        if tag == "script" or any(k.startswith("on") for k in a):
            self.scripts += 1


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_index_links_every_document_and_manual(client: TestClient) -> None:
    r = client.get("/help")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    links = set(_parse(r.text).links)
    wanted = {f"/help/{p.stem}" for p in DOCS.glob("*.md")} | {f"/help/manuals/{p.stem}" for p in
                                                                (DOCS / "manuals").glob("*.md")}
    wanted.add("/help/readme")
    assert {"/help/rules", "/help/api", "/help/architecture", "/help/operations", "/help/domain"} <= wanted
    assert wanted <= links
    for link in sorted(wanted):
        page = client.get(link)
        assert page.status_code == 200, link
        assert "<h1" in page.text, link


def test_pages_are_script_free_under_the_csp_and_load_only_local_assets(client: TestClient) -> None:
    for path in ["/help", "/help/rules", "/help/api", *(f"/help/manuals/{m}" for m in manuals())]:
        r = client.get(path)
        policy = assert_headers(r)
        assert policy["default-src"] == ["'self'"] and policy["script-src"] == ["'self'"]
        page = _parse(r.text)
        assert page.scripts == 0, path
        assert not re.search(r'(src|href)="(https?:)?//', r.text), path  # nothing from elsewhere
    css = client.get("/help/help.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_raw_html_in_a_document_is_shown_as_text() -> None:
    page = render_text('# T\n\n<script>alert(1)</script>\n\nx <img src=x onerror="alert(2)"> '
                       "[a](javascript:alert(3))\n")
    assert "<script" not in page.body and "<img" not in page.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.body
    assert 'href="javascript:' not in page.body  # markdown-it refuses the scheme


def test_links_between_documents_resolve_to_help_pages() -> None:
    text = "# T\n\n[rules](rules.md#t1) [up](../rules.md#g1) [web](https://example.org/a.md) [r](../README.md)\n"
    page = render_text(text, where="docs/api.md")
    assert 'href="/help/rules#t1"' in page.body and 'href="/help/readme"' in page.body
    assert 'href="https://example.org/a.md"' in page.body
    assert 'href="/help/rules#g1"' in render_text(text, where="docs/manuals/officer.md").body
    readme = render_text("[a](docs/api.md#paging) [b](data/boundaries/SOURCES.md)", where="README.md").body
    assert 'href="/help/api#paging"' in readme and 'href="data/boundaries/SOURCES.md"' in readme


def test_manual_images_are_served_from_docs_manuals_img(client: TestClient, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # A manual's ![](img/x.png) on /help/manuals/<name> resolves to /help/manuals/img/x.png.
    html = render_text("# M\n\n![步骤](img/officer-login.png)\n", where="docs/manuals/officer.md").body
    assert 'src="/help/manuals/img/officer-login.png"' in html
    png = tmp_path / "officer-login.png"
    png.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="))
    (tmp_path / "evil.svg").write_text("<svg onload=alert(1)></svg>")
    monkeypatch.setattr(help_routes, "MANUAL_IMAGES", tmp_path)
    r = client.get("/help/manuals/img/officer-login.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content == png.read_bytes()
    assert client.get("/help/manuals/img/evil.svg").status_code == 404  # no SVG: it is a document that may script
    assert client.get("/help/manuals/img/other.png").status_code == 404
    # and the real manuals: their images point into /help/manuals/img/, and every image there is served
    monkeypatch.undo()
    for name in manuals():
        for src in _parse(client.get(f"/help/manuals/{name}").text).images:
            assert src.startswith("/help/manuals/img/"), (name, src)
    for image in sorted(MANUAL_IMAGES.glob("*.png")) if MANUAL_IMAGES.is_dir() else []:
        r = client.get(f"/help/manuals/img/{image.name}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", image.name


def test_every_rule_id_has_an_anchor_on_the_served_rules_page(client: TestClient) -> None:
    ids = _parse(client.get("/help/rules").text).ids
    for anchor in ("t1", "s1-3", "s4", "n7", "rfc-6585-s3", "diming-limit-json-body-bytes", "missing",
                   "string-too-long", "ck-table-column-len", "password-length", "json-syntax"):
        assert anchor in ids, anchor
    assert "no-such-rule" not in ids


def test_unknown_names_and_traversal_are_404(client: TestClient) -> None:
    for path in ["/help/nope", "/help/..%2Fpyproject", "/help/manuals/nope", "/help/manuals/img/nope.png",
                 "/help/manuals/img/..%2F..%2F..%2Fpyproject.toml", "/help/%2e%2e%2fREADME"]:
        r = client.get(path)
        assert r.status_code == 404, path
        assert "[project]" not in r.text
    assert set(documents()) >= {"rules", "api", "operations", "architecture"}


def test_error_bodies_link_to_their_rule(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    rules_page = _parse(client.get("/help/rules").text).ids
    # a domain rule
    r = client.post("/api/v1/users/help_admin/disable", headers=login("admin", username="help_admin"))
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["rule"] == "not_self" and body["rule_url"] == "/help/rules#not-self"
    assert body["rule_url"].split("#")[1] in rules_page
    # request validation: the pydantic error type
    r = client.get("/api/v1/divisions", params={"limit": "many"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["rule"] == "int_parsing" and body["rule_url"] == "/help/rules#int-parsing"
    assert "int-parsing" in rules_page
    # malformed JSON
    r = client.post("/api/v1/places", content=b'{"name": ', headers={**login("officer"),
                                                                     "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["rule_url"] == "/help/rules#json-syntax", r.text
    # an error without a rule has no link
    r = client.get("/api/v1/divisions/999999999999")
    assert r.status_code == 404 and r.json()["rule"] is None and "rule_url" not in r.json()
