"""/help: the manuals and docs/*.md as HTML, offline (gis_api/help/render.py); open without login like /docs.

Only names that are files of docs/ (or docs/manuals/, docs/manuals/img/) are served: a name is looked up in the
listing, never joined onto a path, so nothing outside those folders can be reached.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from gis_api.errors import NotFound
from gis_api.help.render import CSS, MANUAL_IMAGES, documents, index_page, manuals, page, render

router = APIRouter(prefix="/help", include_in_schema=False)

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
               ".gif": "image/gif"}  # no SVG: an SVG is a document that may carry script


def _missing(what: str, name: str) -> NotFound:
    return NotFound(f"no {what} named {name!r} (see /help)", f"没有名为“{name}”的帮助文档（见 /help）", field="name")


@router.get("", response_class=HTMLResponse)
def help_index() -> str:
    return index_page()


@router.get("/help.css")
def help_css() -> Response:
    return Response(CSS, media_type="text/css; charset=utf-8")


@router.get("/manuals/img/{image}")
def manual_image(image: str) -> FileResponse:
    files = {p.name: p for p in MANUAL_IMAGES.glob("*") if p.suffix.lower() in IMAGE_TYPES and p.is_file()} \
        if MANUAL_IMAGES.is_dir() else {}
    if image not in files:
        raise _missing("image", image)
    return FileResponse(files[image], media_type=IMAGE_TYPES[files[image].suffix.lower()])


@router.get("/manuals/{manual}", response_class=HTMLResponse)
def manual_page(manual: str) -> str:
    path = manuals().get(manual.removesuffix(".md"))
    if path is None:
        raise _missing("manual", manual)
    doc = render(path)
    return page(doc.title, doc.body)


@router.get("/{name}", response_class=HTMLResponse)
def document(name: str) -> str:
    path = documents().get(name.removesuffix(".md"))
    if path is None:
        raise _missing("document", name)
    doc = render(path)
    return page(doc.title, doc.body)

