"""HTTP routes of the naming and renaming procedure (命名、更名审批, domain.md §1.3)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from gis_api import auth, clock
from gis_api.deps import AsOf, CurrentUser, ReadAccess, SessionDep, SettingsDep
from gis_api.naming import authorities, service
from gis_api.naming import notice as notice_render
from gis_api.naming.models import DocKind, Kind, Stage
from gis_api.naming.schemas import Advance, AuthorityIn, Close, DocumentIn, NamingSettings, ProposalCreate
from gis_api.openapi_doc import media

router = APIRouter(prefix="/api/v1/proposals", tags=["naming"])
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def naming_settings(request: Request) -> NamingSettings:
    """``DIMING_NAMING_*`` read once per app (tests may put their own on ``app.state.naming_settings``)."""
    settings = getattr(request.app.state, "naming_settings", None)
    if settings is None:
        settings = NamingSettings()
        request.app.state.naming_settings = settings
    return settings


NamingSettingsDep = Annotated[NamingSettings, Depends(naming_settings)]


def _written(session: SessionDep, proposal_id: int, status: int) -> JSONResponse:
    body, tag = service.detail(session, proposal_id, clock.today())
    headers = {"ETag": tag}
    if status == 201:
        headers["Location"] = f"/api/v1/proposals/{proposal_id}"
    return JSONResponse(body, status_code=status, headers=headers)


@router.get("", summary="Proposals, newest first; overdue=true lists missed D1/D2 deadlines as of a date")
def list_proposals(
    request: Request, session: SessionDep, settings: SettingsDep, _user: ReadAccess, as_of: AsOf,
    stage: Stage | None = None,
    kind: Kind | None = None,
    overdue: Annotated[bool, Query(description="only proposals past their D1 (filing) or D2 (notice) due date")]
    = False,
    place_id: int | None = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    limit = min(limit, settings.server.max_limit)
    q = service.ListQuery(as_of=as_of, stage=stage, kind=kind, overdue=overdue, place_id=place_id, limit=limit,
                          offset=offset)
    items, total = service.list_proposals(session, q)
    out: dict[str, Any] = {"as_of": as_of.isoformat(), "numberMatched": total, "numberReturned": len(items),
                           "items": items}
    if offset + len(items) < total:
        out["next"] = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return out


@router.post("", status_code=201, summary="申报: apply for a naming or renaming (officer)")
def create_proposal(body: ProposalCreate, session: SessionDep, user: CurrentUser, naming: NamingSettingsDep
                    ) -> JSONResponse:
    auth.require(user, auth.Role.officer)
    p = service.create(session, body, user.username, naming)
    return _written(session, p.id, 201)


@router.get("/authorities", summary="Approving authorities by category-code prefix (§1.3)")
def list_authorities(session: SessionDep, _user: ReadAccess) -> list[dict[str, Any]]:
    return [authorities.authority_json(a) for a in authorities.authorities(session)]


@router.get("/authorities/{prefix}", summary="The approving authority of one category-code prefix (ETag)")
def get_authority(prefix: str, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    a = authorities.authority(session, prefix)
    return JSONResponse(authorities.authority_json(a), headers={"ETag": authorities.authority_etag(a)})


@router.put("/authorities/{prefix}",
            summary="Set the approving authority of a category-code prefix (admin): If-None-Match: * for a new "
                    "prefix, If-Match (its ETag) to change one",
            responses={201: {"description": "Created", "content": {"application/json": {"schema": {}}}}})
def put_authority(
    prefix: str, body: AuthorityIn, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header(description="the row's ETag, to change it")] = None,
    if_none_match: Annotated[str | None, Header(description="*, to add a new prefix")] = None,
) -> JSONResponse:
    auth.require(user, auth.Role.admin)
    a, created = authorities.set_authority(session, prefix, body, user.username, if_match=if_match,
                                           if_none_match=if_none_match)
    return JSONResponse(authorities.authority_json(a), status_code=201 if created else 200,
                        headers={"ETag": authorities.authority_etag(a)})


@router.get("/{proposal_id}", summary="One proposal with documents, steps and D1/D2 deadlines (ETag)")
def get_proposal(proposal_id: int, session: SessionDep, _user: ReadAccess, as_of: AsOf) -> JSONResponse:
    body, tag = service.detail(session, proposal_id, as_of)
    return JSONResponse(body, headers={"ETag": tag})


@router.get("/{proposal_id}/history", summary="Every recorded change of a proposal, its documents and steps")
def proposal_history(proposal_id: int, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return service.history(session, proposal_id)


@router.post("/{proposal_id}/documents", status_code=201,
             summary="Attach a supporting document: metadata and optionally the file (officer)")
def add_document(
    proposal_id: int, session: SessionDep, user: CurrentUser, naming: NamingSettingsDep,
    kind: Annotated[DocKind, Form(description="综合评估, 专家论证, 征求意见, 风险评估, 民政部门意见, 批复 …")],
    title: Annotated[str, Form(min_length=1, max_length=300)],
    doc_no: Annotated[str | None, Form(description="文号")] = None,
    doc_date: Annotated[dt.date | None, Form()] = None,
    opinion_handling: Annotated[str | None, Form(description="征求意见: how the opinions were handled")] = None,
    url: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    file: Annotated[UploadFile | None, File(description="the document itself (size-limited)")] = None,
) -> dict[str, Any]:
    auth.require(user, auth.Role.officer)
    upload = None
    if file is not None and file.filename:
        content = file.file.read(naming.max_attachment_bytes + 1)
        upload = service.Upload(file_name=file.filename, content_type=file.content_type, content=content)
    doc = DocumentIn(kind=kind, title=title, doc_no=doc_no, doc_date=doc_date, opinion_handling=opinion_handling,
                     url=url, reason=reason)
    row = service.add_document(session, proposal_id, doc, upload, user.username, naming)
    return service.document_json(row)


@router.get("/{proposal_id}/documents/{document_id}/file",
            summary="Download an uploaded document (login required: working papers are not public data)",
            responses=media("*/*"))
def get_document_file(proposal_id: int, document_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    doc, content = service.document_file(session, proposal_id, document_id)
    name = doc.file_name or f"document-{document_id}"
    return Response(content, media_type=doc.content_type or "application/octet-stream", headers={
        # Always a download, never rendered in our origin (an uploaded HTML file must not run here).
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
    })


@router.post("/{proposal_id}/advance",
             summary="Next stage: reviewed, approved (reviewer), filed (D1), announced (D2) (If-Match required)")
def advance(
    proposal_id: int, body: Advance, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *service.roles_for(body.to))
    service.advance(session, proposal_id, body, if_match, user.username)
    return _written(session, proposal_id, 200)


def _close(session: SessionDep, proposal_id: int, to: Stage, body: Close, if_match: str | None, user: auth.User
           ) -> JSONResponse:
    auth.require(user, *service.roles_for(to))
    service.close_by_id(session, proposal_id, to, body, if_match, user.username)
    return _written(session, proposal_id, 200)


@router.post("/{proposal_id}/reject", summary="不予批准: reject before approval (reviewer; If-Match required)")
def reject(
    proposal_id: int, body: Close, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    return _close(session, proposal_id, Stage.rejected, body, if_match, user)


@router.post("/{proposal_id}/withdraw", summary="撤回: withdraw before approval (officer; If-Match required)")
def withdraw(
    proposal_id: int, body: Close, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    return _close(session, proposal_id, Stage.withdrawn, body, if_match, user)


@router.get("/{proposal_id}/notice.html", response_class=HTMLResponse,
            summary="The public notice (D2) with the six D3 fields, printable HTML")
def notice_html(proposal_id: int, session: SessionDep, _user: ReadAccess, naming: NamingSettingsDep
                ) -> HTMLResponse:
    n = service.notice(session, proposal_id, naming)
    return HTMLResponse(notice_render.render_html(n))


@router.get("/{proposal_id}/notice.docx", summary="The public notice (D2) with the six D3 fields, as DOCX",
            responses=media(DOCX))
def notice_docx(proposal_id: int, session: SessionDep, _user: ReadAccess, naming: NamingSettingsDep) -> Response:
    n = service.notice(session, proposal_id, naming)
    filename = quote(f"{n.title}.docx")
    return Response(notice_render.render_docx(n), media_type=DOCX, headers={
        "Content-Disposition": f"attachment; filename=\"notice-{proposal_id}.docx\"; filename*=UTF-8''{filename}",
    })


@router.get("/{proposal_id}/notice.pdf", summary="The public notice (D2) with the six D3 fields, as PDF",
            responses=media("application/pdf"))
def notice_pdf(proposal_id: int, session: SessionDep, _user: ReadAccess, naming: NamingSettingsDep) -> Response:
    n = service.notice(session, proposal_id, naming)
    filename = quote(f"{n.title}.pdf")
    return Response(notice_render.render_pdf(n, naming.pdf_font), media_type="application/pdf", headers={
        "Content-Disposition": f"inline; filename=\"notice-{proposal_id}.pdf\"; filename*=UTF-8''{filename}",
    })
