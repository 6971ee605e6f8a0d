"""Attachments (photos, scanned signed forms, PDFs): content-addressed files with their EXIF kept in the record.

A file is named by the SHA-256 of its bytes, so the same photo uploaded twice (a retried upload from a phone) is
stored once. On disk, under ``DIMING_ATTACHMENTS_DIR`` (default ``<DIMING_HOME>/attachments``)::

    <sha[:2]>/<sha>/original    the bytes as uploaded (EXIF included: the record of what the camera said)
    <sha[:2]>/<sha>/public      the copy that is served: images re-encoded without EXIF or other metadata
    <sha[:2]>/<sha>/thumb.jpg   a JPEG, longest side 256 px (images only)

Files are written before the row commits; a rolled-back upload leaves an unreferenced file that nothing serves
and the backup skips (it copies the files of the rows in its snapshot). The type comes from the bytes (JPEG, PNG,
WebP, PDF), never from the name. Read permission is that of the records an attachment is linked to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import re
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.boundaries import inspections, markers
from gis_api.boundaries.models import Patrol
from gis_api.errors import DimingError, InvalidInput, NotFound
from gis_api.field.models import TARGET_KINDS, FieldAttachment, FieldAttachmentLink
from gis_api.field.storage import file_dir, write_atomic
from gis_api.limits import LimitSettings, too_large

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
THUMB_PX = 256
PDF = "application/pdf"
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
KIND_ZH = {"marker": "界桩", "inspection": "联检记录", "patrol": "巡查记录", "issue": "问题"}
API = "/api/v1/field/attachments"


class UnsupportedType(DimingError):
    status = 415
    code = "unsupported_type"


def sniff(data: bytes) -> str | None:
    """The type the bytes say they are (magic numbers), whatever the file name claims."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return PDF
    return None


# -- EXIF -------------------------------------------------------------------------------------------------------

_BASE_TAGS = {271: "Make", 272: "Model", 305: "Software", 306: "DateTime", 274: "Orientation"}
_EXIF_TAGS = {36867: "DateTimeOriginal", 36868: "DateTimeDigitized", 36881: "OffsetTimeOriginal",
              37386: "FocalLength", 42036: "LensModel"}


def _num(v: Any) -> float:
    return float(v)


def _dms(value: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return d + m / 60 + s / 3600


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("ascii", errors="replace").strip("\x00 ")
    if isinstance(v, str):
        return v.strip("\x00 ")
    if isinstance(v, int):
        return v
    try:
        return round(float(v), 6)
    except (TypeError, ValueError):
        return str(v)


def read_exif(img: Image.Image) -> tuple[dict[str, Any], dt.datetime | None, tuple[float, float] | None]:
    """The EXIF worth keeping (camera, times, GPS), when the photo was taken and where (lon, lat)."""
    exif = img.getexif()
    out: dict[str, Any] = {name: _plain(exif[tag]) for tag, name in _BASE_TAGS.items() if tag in exif}
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    out.update({name: _plain(sub[tag]) for tag, name in _EXIF_TAGS.items() if tag in sub})
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    where: tuple[float, float] | None = None
    lat, lon = _dms(gps.get(2)), _dms(gps.get(4))
    if lat is not None and lon is not None:
        if str(gps.get(1, "N")).upper().startswith("S"):
            lat = -lat
        if str(gps.get(3, "E")).upper().startswith("W"):
            lon = -lon
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            where = (round(lon, 7), round(lat, 7))
            out["GPSLatitude"], out["GPSLongitude"] = where[1], where[0]
    if 6 in gps:
        out["GPSAltitude"] = _plain(gps[6])
    taken: dt.datetime | None = None
    stamp = out.get("DateTimeOriginal") or out.get("DateTime")
    if isinstance(stamp, str):
        try:
            naive = dt.datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            naive = None
        if naive is not None:
            offset = out.get("OffsetTimeOriginal")
            m = re.fullmatch(r"([+-])(\d{2}):(\d{2})", str(offset or ""))
            if m:
                delta = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
                taken = naive.replace(tzinfo=dt.timezone(delta if m.group(1) == "+" else -delta))
            else:
                taken = naive.replace(tzinfo=clock.zone())  # a camera without an offset shows local time
    return out, taken, where


# -- storing ----------------------------------------------------------------------------------------------------

def _derived(img: Image.Image, content_type: str) -> tuple[bytes, bytes]:
    """The served copy (upright, no metadata) and the thumbnail."""
    upright = ImageOps.exif_transpose(img)  # the orientation tag goes with the EXIF: apply it to the pixels
    if content_type == "image/jpeg" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    buf = io.BytesIO()
    # No exif=, icc_profile= or pnginfo=: Pillow writes none of the source's metadata.
    if content_type == "image/jpeg":
        upright.save(buf, "JPEG", quality=90)
    elif content_type == "image/png":
        upright.save(buf, "PNG")
    else:
        upright.save(buf, "WEBP", quality=90)
    thumb = upright.convert("RGB")
    thumb.thumbnail((THUMB_PX, THUMB_PX))
    tbuf = io.BytesIO()
    thumb.save(tbuf, "JPEG", quality=80)
    return buf.getvalue(), tbuf.getvalue()


def _refuse_type() -> UnsupportedType:
    return UnsupportedType(
        "only JPEG, PNG and WebP photos and PDF documents can be attached (the file's content is checked, "
        "not its name)",
        "只能上传 JPEG、PNG、WebP 照片或 PDF 文件（按文件内容判断，而非文件名）",
        field="file", rule="attachment_type",
    )


def store(session: Session, data: bytes, user: str, limits: LimitSettings) -> tuple[FieldAttachment, bool]:
    """Check, store and record an upload; (record, created). The same bytes again return the first record."""
    if not data:
        raise InvalidInput("the file is empty", "文件为空", field="file", rule="attachment_empty")
    if len(data) > limits.attachment_bytes:
        raise too_large("the attachment", "附件", limits.attachment_bytes, "attachment_bytes", field="file",
                        unit=" bytes")
    content_type = sniff(data)
    if content_type is None:
        raise _refuse_type()
    sha = hashlib.sha256(data).hexdigest()
    # Uploads of the same bytes queue here, so the second finds the first's row instead of failing on the key.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('field_attachments'), hashtext(:s))"), {"s": sha})
    existing = session.get(FieldAttachment, sha, populate_existing=True)
    if existing is not None:
        _ensure_files(sha, data, content_type)  # a lost file is put back by uploading it again
        return existing, False
    exif: dict[str, Any] = {}
    taken: dt.datetime | None = None
    where: tuple[float, float] | None = None
    width = height = None
    if content_type != PDF:
        img = _open(data, content_type)
        exif, taken, where = read_exif(img)
        width, height = ImageOps.exif_transpose(img).size
    _ensure_files(sha, data, content_type)
    row = FieldAttachment(
        sha256=sha, content_type=content_type, size_bytes=len(data), width=width, height=height, exif=exif,
        taken_at=taken, exif_geom=f"SRID=4490;POINT({where[0]!r} {where[1]!r})" if where else None,
        uploaded_by=user,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return row, True


def _open(data: bytes, content_type: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # decode the pixels: a truncated or forged image fails here, not when it is served
    except Image.DecompressionBombError:
        raise InvalidInput("the image has too many pixels", "图片像素过多", field="file",
                           rule="attachment_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidInput("the image cannot be decoded (damaged or not what its first bytes say)",
                           "图片无法解码（文件损坏或内容与格式不符）", field="file", rule="attachment_decode") from None
    if Image.MIME.get(img.format or "") != content_type:
        raise _refuse_type()
    return img


def _ensure_files(sha: str, data: bytes, content_type: str) -> None:
    d = file_dir(sha)
    if not (d / "original").exists():
        write_atomic(d / "original", data)
    if content_type == PDF:
        if not (d / "public").exists():
            write_atomic(d / "public", data)
        return
    if not ((d / "public").exists() and (d / "thumb.jpg").exists()):
        public, thumb = _derived(_open(data, content_type), content_type)
        write_atomic(d / "public", public)
        write_atomic(d / "thumb.jpg", thumb)


# -- links and reads --------------------------------------------------------------------------------------------

def _no_attachment(sha: str) -> NotFound:
    return NotFound(f"no attachment {sha}", f"不存在附件 {sha}", field="sha256")


def _target(session: Session, kind: str, key: str) -> str:
    """Hold the record an attachment is added to (a child record: locked, not compared) and return its key."""
    if kind == "marker":
        return markers.hold(session, key).marker_no
    if not key.isdigit():
        raise InvalidInput(f"{kind} key must be a number", f"{KIND_ZH.get(kind, kind)}编号须为数字", field="key")
    if kind == "inspection":
        inspections.GUARD.hold(session, int(key), missing=lambda: inspections._no_inspection(int(key)))
    elif kind == "issue":
        inspections.ISSUE_GUARD.hold(session, int(key), missing=lambda: inspections._no_issue(int(key)))
    elif kind == "patrol":
        if session.get(Patrol, int(key)) is None:  # patrols are records, never edited: nothing to lock
            raise NotFound(f"no patrol {key}", f"不存在巡查记录 {key}", field="key")
    else:
        raise InvalidInput(f"kind must be one of {', '.join(TARGET_KINDS)}",
                           f"类型须为{'、'.join(KIND_ZH[k] for k in TARGET_KINDS)}之一", field="kind")
    return str(int(key))


def link(session: Session, sha: str, kind: str, key: str, caption: str | None, user: str) -> bool:
    """Attach an uploaded file to a record; True when the link is new (linking twice is a no-op)."""
    if not SHA_RE.match(sha) or session.get(FieldAttachment, sha) is None:
        raise NotFound(f"no attachment {sha}: upload it first", f"不存在附件 {sha}，请先上传", field="sha256")
    target = _target(session, kind, key)
    done = session.execute(
        insert(FieldAttachmentLink).values(sha256=sha, target_kind=kind, target_key=target, caption=caption,
                                           linked_by=user)
        .on_conflict_do_nothing(constraint="uq_field_attachment_links_target").returning(FieldAttachmentLink.id)
    ).first()
    return done is not None


def get(session: Session, sha: str, user: auth.User | None) -> FieldAttachment:
    """The record when the caller may read it (route dependencies already applied the general read access)."""
    row = session.get(FieldAttachment, sha) if SHA_RE.match(sha) else None
    if row is None:
        raise _no_attachment(sha)
    linked = session.scalar(select(FieldAttachmentLink.id).where(FieldAttachmentLink.sha256 == sha).limit(1))
    if linked is None and not (user is not None and (user.username == row.uploaded_by
                                                     or user.has_any((auth.Role.admin,)))):
        raise _no_attachment(sha)  # not attached to anything yet: its uploader's (and admins') only
    return row


def as_dict(session: Session, row: FieldAttachment) -> dict[str, Any]:
    where = session.execute(text("SELECT ST_X(exif_geom), ST_Y(exif_geom) FROM field_attachments WHERE sha256 = :s"),
                            {"s": row.sha256}).first()
    links = session.execute(
        select(FieldAttachmentLink.target_kind, FieldAttachmentLink.target_key, FieldAttachmentLink.caption)
        .where(FieldAttachmentLink.sha256 == row.sha256).order_by(FieldAttachmentLink.id)).all()
    return {
        "sha256": row.sha256, "content_type": row.content_type, "size_bytes": row.size_bytes, "width": row.width,
        "height": row.height, "taken_at": row.taken_at.isoformat() if row.taken_at else None,
        "exif_location": [where[0], where[1]] if where and where[0] is not None else None, "exif": row.exif,
        "uploaded_by": row.uploaded_by, "created_at": row.created_at.isoformat() if row.created_at else None,
        "links": [{"kind": k, "key": key, "caption": c} for k, key, c in links],
        "content_url": f"{API}/{row.sha256}/content",
        "thumbnail_url": f"{API}/{row.sha256}/thumbnail" if row.content_type != PDF else None,
    }


def list_for(session: Session, kind: str, key: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(FieldAttachment).join(FieldAttachmentLink, FieldAttachmentLink.sha256 == FieldAttachment.sha256)
        .where(FieldAttachmentLink.target_kind == kind, FieldAttachmentLink.target_key == key)
        .order_by(FieldAttachmentLink.id)).all()
    return [as_dict(session, r) for r in rows]


def served_file(row: FieldAttachment, which: str) -> tuple[Path, str]:
    """(path, media type) of the served copy or thumbnail; 404 when the file is not there."""
    if which == "thumbnail":
        if row.content_type == PDF:
            raise NotFound("a PDF has no thumbnail", "PDF 文件没有缩略图", field="sha256")
        path, media = file_dir(row.sha256) / "thumb.jpg", "image/jpeg"
    else:
        path, media = file_dir(row.sha256) / "public", row.content_type
    if not path.is_file():
        raise NotFound(f"the file of attachment {row.sha256} is missing on the server (restore it from a backup)",
                       f"服务器上缺少附件 {row.sha256} 的文件（请从备份恢复）", field="sha256", rule="attachment_file")
    return path, media


# -- the 平安边界 report ---------------------------------------------------------------------------------------

def marker_photos(session: Session, line_ids: list[str]) -> list[dict[str, Any]]:
    """Per marker of the lines: how many attachments and a link to the newest one's thumbnail."""
    if not line_ids:
        return []
    rows = session.execute(text("""
        SELECT m.marker_no, m.line_id, count(*) AS n,
               (array_agg(a.sha256 ORDER BY k.id DESC) FILTER (WHERE a.content_type <> 'application/pdf'))[1]
                   AS newest_image
        FROM field_attachment_links k
        JOIN field_attachments a ON a.sha256 = k.sha256
        JOIN boundary_markers m ON m.marker_no = k.target_key AND k.target_kind = 'marker'
        WHERE m.line_id = ANY(:lines)
        GROUP BY m.marker_no, m.line_id ORDER BY m.marker_no"""), {"lines": line_ids}).mappings().all()
    return [{"marker_no": r["marker_no"], "line_id": r["line_id"], "count": int(r["n"]),
             "thumbnail_url": f"{API}/{r['newest_image']}/thumbnail" if r["newest_image"] else None,
             "list_url": f"{API}?kind=marker&key={r['marker_no']}"} for r in rows]


REPORT_WORDS: dict[str, dict[str, Any]] = {
    "zh": {"title": "界桩照片与附件", "head": ["界桩", "界线", "附件数", "缩略图"], "link": "查看", "none": "无"},
    "en": {"title": "Marker photos and attachments", "head": ["Marker", "Line", "Attachments", "Thumbnail"],
           "link": "view", "none": "none"},
}


def report_section(rep: dict[str, Any], lang: str) -> str:
    """The report's HTML section listing markers with attachments (empty when none has any)."""
    items = rep.get("marker_photos") or []
    if not items:
        return ""
    w = REPORT_WORDS["en" if lang == "en" else "zh"]
    e = html.escape

    def thumb(x: dict[str, Any]) -> str:
        url = x["thumbnail_url"]
        return f'<a href="{e(url)}">{e(w["link"])}</a>' if url else e(w["none"])

    rows = "".join(
        f"<tr><td>{e(x['marker_no'])}</td><td>{e(x['line_id'])}</td><td class=n>{int(x['count'])}</td>"
        f"<td>{thumb(x)}</td></tr>" for x in items)
    head = "".join(f"<th>{e(h)}</th>" for h in w["head"])
    return (f'<section class="marker-photos"><h2>{e(w["title"])}</h2><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")
