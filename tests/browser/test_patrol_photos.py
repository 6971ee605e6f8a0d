"""Photos taken in the field app show in the map's line view: a count per marker, and the thumbnail, fetched with
the login (the files are read-protected), drawn from a blob: URL."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from tests.browser.conftest import Live, PageRun


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, "JPEG")
    return out.getvalue()


def test_marker_photos_in_the_line_view(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/field/sync"):
        pytest.skip("the field API is not wired into the app")
    with live.client() as c:
        lines = c.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}).json()["features"]
        line = next(f for f in lines if f["properties"]["markers"] >= 2)["properties"]
        markers = c.get("/api/v1/boundary-markers", params={"line_id": line["line_id"]}).json()["features"]
    with_photo = markers[0]["properties"]["marker_no"]
    without = markers[1]["properties"]["marker_no"]
    colour = (30, 120, 200)
    with live.client("zhao") as c:
        up = c.post("/api/v1/field/attachments", files={"file": ("m.jpg", _jpeg(colour), "image/jpeg")})
        assert up.status_code in (200, 201), up.text
        sha = up.json()["sha256"]
        done = c.post("/api/v1/field/sync", json={"changes": [{
            "change_id": uuid.uuid4().hex, "kind": "attach",
            "data": {"sha256": sha, "kind": "marker", "key": with_photo, "caption": "界桩近景"}}]})
        assert done.status_code == 200, done.text
        listed = c.get("/api/v1/field/attachments", params={"kind": "marker", "key": with_photo}).json()
    count = len(listed)
    assert count >= 1

    page = run.page
    run.open()
    run.login("zhao")
    page.click("#tab-patrol")
    if page.locator("#patrol-view-only").is_checked():
        page.uncheck("#patrol-view-only")
    page.click(f'#line-list li[data-line="{line["line_id"]}"] button')
    page.wait_for_selector("#line-title")
    cell = page.locator(f'#marker-table td.photos[data-marker="{with_photo}"] button')
    cell.wait_for()
    assert cell.inner_text() == f"照片 {count}"
    assert page.locator(f'#marker-table td.photos[data-marker="{without}"] button').count() == 0
    cell.click()
    img = page.locator(f'#marker-photos li[data-sha256="{sha}"] img')
    img.wait_for()
    for _ in range(100):  # the thumbnail is fetched with the token, then drawn
        if img.evaluate("(i) => i.complete && i.naturalWidth > 0"):
            break
        page.wait_for_timeout(100)
    assert img.get_attribute("src").startswith("blob:")
    # The thumbnail is the photo: its centre has the colour it was taken with (JPEG rounding aside).
    rgb = img.evaluate("""(i) => { const c = document.createElement('canvas'); c.width = i.naturalWidth;
        c.height = i.naturalHeight; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        return Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3)); }""")
    assert all(abs(a - b) <= 12 for a, b in zip(rgb, colour, strict=True)), rgb
    assert "界桩近景" in page.locator("#marker-photos").inner_text()
