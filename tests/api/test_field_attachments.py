"""Attachments (issue 16): content-addressed photos and PDFs — hash dedupe, types sniffed from the bytes, size
limit, EXIF kept in the record and absent from the served copy, thumbnails, read permission, the 平安边界 report
link, and the files in a backup and back after a restore."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from gis_api import backup
from gis_api.app import create_app
from gis_api.boundaries.demo import load_demo_boundaries
from gis_api.field.storage import file_dir
from gis_api.limits import LimitSettings
from gis_api.settings import Settings
from tests.conftest import TEST_DB
from tests.live import on_session

Login = Callable[..., dict[str, str]]
API = "/api/v1/field/attachments"


@pytest.fixture(autouse=True)
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "attachments"
    monkeypatch.setenv("DIMING_ATTACHMENTS_DIR", str(d))
    return d


@pytest.fixture
def demo(session: Session) -> dict[str, Any]:
    out = load_demo_boundaries(session)
    session.commit()
    return out


def photo(color: tuple[int, int, int] = (200, 30, 30), *, fmt: str = "JPEG", exif: bool = True,
          size: tuple[int, int] = (640, 480)) -> bytes:
    """A photo as a phone takes it: camera, time with its offset, GPS position; rotated by the orientation tag."""
    img = Image.new("RGB", size, color)
    ex = Image.Exif()
    if exif:
        ex[0x010F] = "DimingCam"  # Make
        ex[0x0110] = "Field 1"  # Model
        ex[0x0112] = 6  # Orientation: rotate 90° to display
        sub = ex.get_ifd(0x8769)
        sub[36867] = "2026:05:01 09:12:03"  # DateTimeOriginal
        sub[36881] = "+08:00"  # OffsetTimeOriginal
        gps = ex.get_ifd(0x8825)
        gps[1], gps[2] = "N", (31.0, 55.0, 12.0)
        gps[3], gps[4] = "E", (117.0, 24.0, 36.0)
    buf = io.BytesIO()
    img.save(buf, fmt, exif=ex.tobytes() if exif else b"")
    return buf.getvalue()


def upload(client: TestClient, headers: dict[str, str], data: bytes, name: str = "IMG_0001.jpg",
           ctype: str = "image/jpeg") -> Any:
    return client.post(API, files={"file": (name, data, ctype)}, headers=headers)


def _attach(client: TestClient, headers: dict[str, str], sha: str, marker_no: str) -> None:
    r = client.post("/api/v1/field/sync", headers=headers, json={"changes": [
        {"change_id": uuid.uuid4().hex, "kind": "attach",
         "data": {"kind": "marker", "key": marker_no, "sha256": sha, "caption": "桩体"}}]})
    assert r.json()["results"][0]["status"] == "applied", r.text


def _marker(session: Session) -> str:
    return str(session.execute(text("SELECT marker_no FROM boundary_markers ORDER BY marker_no LIMIT 1")).scalar_one())


def test_a_photo_is_stored_once_with_its_exif_and_served_without(client: TestClient, login: Login,
                                                                session: Session, store_dir: Path) -> None:
    patrol = login("patrol")
    data = photo()
    r = upload(client, patrol, data)
    assert r.status_code == 201, r.text
    rec = r.json()
    sha = hashlib.sha256(data).hexdigest()
    assert rec["sha256"] == sha and rec["created"] and rec["content_type"] == "image/jpeg"
    assert rec["size_bytes"] == len(data) and (rec["width"], rec["height"]) == (480, 640)  # upright
    # EXIF kept in the record: when (with the camera's offset) and where.
    assert dt.datetime.fromisoformat(rec["taken_at"]) == dt.datetime(2026, 5, 1, 1, 12, 3, tzinfo=dt.UTC)
    lon, lat = rec["exif_location"]
    assert lon == pytest.approx(117 + 24 / 60 + 36 / 3600) and lat == pytest.approx(31 + 55 / 60 + 12 / 3600)
    assert rec["exif"]["Make"] == "DimingCam" and rec["exif"]["DateTimeOriginal"] == "2026:05:01 09:12:03"
    # The same bytes again (a retried upload, another name): the same record, no second row or file.
    again = upload(client, patrol, data, name="retry.jpeg")
    assert again.status_code == 200 and again.json()["sha256"] == sha and again.json()["created"] is False
    assert session.execute(text("SELECT count(*) FROM field_attachments WHERE sha256 = :s"),
                           {"s": sha}).scalar_one() == 1
    assert (file_dir(sha, store_dir) / "original").read_bytes() == data  # the original keeps its EXIF
    # The served copy: a JPEG with no EXIF at all, turned upright.
    served = client.get(rec["content_url"], headers=patrol)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert b"Exif" not in served.content and b"DimingCam" not in served.content
    img = Image.open(io.BytesIO(served.content))
    assert len(img.getexif()) == 0 and img.size == (480, 640)
    assert b"DimingCam" in data  # (the test photo did carry it)
    thumb = client.get(rec["thumbnail_url"], headers=patrol)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    t = Image.open(io.BytesIO(thumb.content))
    assert max(t.size) == 256 and t.size == (192, 256) and len(t.getexif()) == 0


def test_png_webp_and_pdf_are_accepted_by_content(client: TestClient, login: Login) -> None:
    patrol = login("patrol")
    png = upload(client, patrol, photo(fmt="PNG", exif=False), name="a.bin", ctype="application/octet-stream")
    assert png.status_code == 201 and png.json()["content_type"] == "image/png"
    webp = upload(client, patrol, photo((10, 200, 10), fmt="WEBP"), name="b", ctype="text/plain")
    assert webp.status_code == 201 and webp.json()["content_type"] == "image/webp"
    assert webp.json()["exif"]["Make"] == "DimingCam"
    served = client.get(webp.json()["content_url"], headers=patrol).content
    assert b"DimingCam" not in served and len(Image.open(io.BytesIO(served)).getexif()) == 0
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    r = upload(client, patrol, pdf, name="签字联检表.pdf", ctype="application/pdf")
    assert r.status_code == 201 and r.json()["content_type"] == "application/pdf"
    assert r.json()["thumbnail_url"] is None
    assert client.get(r.json()["content_url"], headers=patrol).content == pdf
    assert client.get(f"{API}/{r.json()['sha256']}/thumbnail", headers=patrol).status_code == 404


@pytest.mark.parametrize(("data", "status", "rule"), [
    (b"MZ\x90\x00 this is an .exe named like a photo" * 10, 415, "attachment_type"),
    (b"GIF89a" + b"\x00" * 100, 415, "attachment_type"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, "attachment_type"),
    (b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 20, 422, "attachment_decode"),
    (b"", 422, "attachment_empty"),
])
def test_bad_types_are_refused_in_both_languages(client: TestClient, login: Login, session: Session,
                                                 data: bytes, status: int, rule: str) -> None:
    r = upload(client, login("patrol"), data, name="photo.jpg")
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == "file" and body["rule"] == rule
    assert body["message"] and body["message_zh"] and body["message"] != body["message_zh"]
    assert session.execute(text("SELECT count(*) FROM field_attachments")).scalar_one() == 0


def test_too_large_is_refused_413(settings: Settings, session: Session, login: Login) -> None:
    app = create_app(replace(settings, limits=LimitSettings(attachment_bytes=4096)))
    on_session(app, session)
    client = TestClient(app, raise_server_exceptions=False)
    big = photo(size=(1200, 900)) + b"\x00" * 8000
    r = upload(client, login("patrol"), big)
    assert r.status_code == 413
    body = r.json()
    assert body["rule"] == "DIMING_LIMIT_ATTACHMENT_BYTES" and "附件超过上限" in body["message_zh"]
    assert session.execute(text("SELECT count(*) FROM field_attachments")).scalar_one() == 0


def test_read_permission_follows_the_record(app_factory: Callable[..., TestClient], login: Login,
                                            session: Session, demo: dict[str, Any]) -> None:
    client = app_factory()
    owner, other = login("patrol"), login("patrol")
    rec = upload(client, owner, photo((1, 2, 3))).json()
    sha = rec["sha256"]
    # Not attached yet: its uploader's only.
    assert client.get(f"{API}/{sha}", headers=owner).status_code == 200
    for path in ("", "/content", "/thumbnail"):
        assert client.get(f"{API}/{sha}{path}", headers=other).status_code == 404
        assert client.get(f"{API}/{sha}{path}").status_code == 404
    assert client.post(API, files={"file": ("x.jpg", photo(), "image/jpeg")}, headers=login("viewer")
                       ).status_code == 403
    marker_no = _marker(session)
    _attach(client, owner, sha, marker_no)
    # Attached to a marker: read like the boundaries (public read in the demo) ...
    assert client.get(f"{API}/{sha}/thumbnail", headers=other).status_code == 200
    assert client.get(f"{API}/{sha}/content").status_code == 200
    listed = client.get(API, params={"kind": "marker", "key": marker_no}).json()
    assert [x["sha256"] for x in listed] == [sha] and listed[0]["links"][0]["caption"] == "桩体"
    # ... and with DIMING_PUBLIC_READ=false only after login.
    closed = app_factory(public_read=False)
    assert closed.get(f"{API}/{sha}/content").status_code == 401
    assert closed.get(f"{API}/{sha}/content", headers=login("viewer")).status_code == 200


def test_report_counts_marker_photos(client: TestClient, login: Login, session: Session,
                                     demo: dict[str, Any]) -> None:
    patrol = login("patrol")
    marker_no = _marker(session)
    shas = [upload(client, patrol, photo((i, 50, 50))).json()["sha256"] for i in (10, 20)]
    for sha in shas:
        _attach(client, patrol, sha, marker_no)
    rep = client.get("/api/v1/boundaries/report", params={"format": "json"}).json()
    photos = {x["marker_no"]: x for x in rep["marker_photos"]}
    assert photos[marker_no]["count"] == 2
    assert photos[marker_no]["thumbnail_url"] == f"{API}/{shas[1]}/thumbnail"  # the newest
    page = client.get("/api/v1/boundaries/report").text
    assert "界桩照片与附件" in page and f'href="{API}/{shas[1]}/thumbnail"' in page
    assert "Marker photos" in client.get("/api/v1/boundaries/report", params={"lang": "en"}).text


def test_a_signed_inspection_form_is_attached_to_the_inspection(client: TestClient, login: Login, session: Session,
                                                                demo: dict[str, Any]) -> None:
    patrol = login("patrol")
    line_id = str(session.execute(text("SELECT line_id FROM boundary_markers LIMIT 1")).scalar_one())
    team = {"unit": "肥东县民政局"}
    r = client.post("/api/v1/boundary-inspections", headers=patrol, json={
        "line_id": line_id, "inspected_on": "2024-05-01", "team_left": team, "team_right": {"unit": "邻县民政局"}})
    assert r.status_code == 201, r.text
    inspection_id = r.json()["id"]
    pdf = b"%PDF-1.7\n% signed joint inspection form\n%%EOF\n"
    sha = upload(client, patrol, pdf, name="scan.pdf", ctype="application/pdf").json()["sha256"]
    out = client.post("/api/v1/field/sync", headers=patrol, json={"changes": [
        {"change_id": uuid.uuid4().hex, "kind": "attach",
         "data": {"kind": "inspection", "key": str(inspection_id), "sha256": sha, "caption": "签字联检表"}},
        {"change_id": uuid.uuid4().hex, "kind": "attach",
         "data": {"kind": "inspection", "key": "999999", "sha256": sha}}]}).json()
    assert [x["status"] for x in out["results"]] == ["applied", "rejected"]
    assert out["results"][1]["error"]["code"] == "not_found"
    listed = client.get(API, params={"kind": "inspection", "key": str(inspection_id)}).json()
    assert [(x["sha256"], x["content_type"]) for x in listed] == [(sha, "application/pdf")]
    assert client.get(listed[0]["content_url"]).content == pdf


# -- backup ------------------------------------------------------------------------------------------------------

def test_attachment_files_are_in_the_backup_and_restored(settings: Settings, engine: Engine, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, store_dir: Path) -> None:
    """Committed to the test database (a backup reads what is committed), removed afterwards."""
    from gis_api.field import attachments

    data = photo((7, 7, 7))
    sha = hashlib.sha256(data).hexdigest()
    with Session(engine) as s:
        _row, created = attachments.store(s, data, "backup-test", LimitSettings())
        s.commit()
    assert created
    restored_db = f"{TEST_DB}_field_restore"
    archive = tmp_path / "diming.backup"
    try:
        manifest = backup.create_backup(settings.db, archive)
        entry = manifest["attachments"]
        assert sha in entry["files"] and entry["files"][sha] == len(data)
        print(f"\nbackup with {entry['count']} attachment(s), {entry['bytes']} bytes; file {manifest['file_bytes']}")
        # Restore on a machine without the files: they come back from the backup, checked by their hash.
        elsewhere = tmp_path / "restored-attachments"
        monkeypatch.setenv("DIMING_ATTACHMENTS_DIR", str(elsewhere))
        result = backup.restore_backup(settings.db, archive, into=restored_db)
        assert result.ok, result.mismatches
        assert (file_dir(sha, elsewhere) / "original").read_bytes() == data
        assert (file_dir(sha, elsewhere) / "public").read_bytes() == (file_dir(sha, store_dir) / "public").read_bytes()
        url = make_url(settings.db.database_url or "").set(database=restored_db)
        eng = create_engine(url)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT uploaded_by FROM field_attachments WHERE sha256 = :s"),
                                {"s": sha}).scalar_one() == "backup-test"
        eng.dispose()
        _drop(settings, restored_db)
        # A backup whose attachment file was altered does not verify.
        with tarfile_members(archive) as members:
            name = f"attachments/{sha[:2]}/{sha}/original"
            members[name] = members[name][:-1] + bytes([members[name][-1] ^ 1])
        monkeypatch.setenv("DIMING_ATTACHMENTS_DIR", str(tmp_path / "third"))
        bad = backup.restore_backup(settings.db, archive, into=restored_db)
        assert not bad.ok and any(sha[:12] in m for m in bad.mismatches)
    finally:
        _drop(settings, restored_db)
        with Session(engine) as s:
            s.execute(text("DELETE FROM field_attachments WHERE sha256 = :s"), {"s": sha})
            s.commit()


def _drop(settings: Settings, name: str) -> None:
    eng = create_engine(make_url(settings.db.database_url or "").set(database="postgres"),
                        isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


class tarfile_members:  # a context manager used like a function
    """Read every member of a tar, let the test edit them, write the tar again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.members: dict[str, bytes] = {}

    def __enter__(self) -> dict[str, bytes]:
        import tarfile

        with tarfile.open(self.path) as tar:
            for m in tar.getmembers():
                f = tar.extractfile(m)
                if f is not None:
                    self.members[m.name] = f.read()
        return self.members

    def __exit__(self, *exc: object) -> None:
        import tarfile

        with tarfile.open(self.path, "w") as tar:
            for name, data in self.members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
