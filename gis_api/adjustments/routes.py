"""HTTP routes for division adjustments: proposals, impact, approval, application; seats and lineage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from gis_api import auth
from gis_api.adjustments import service
from gis_api.adjustments.models import AdjustmentStatus
from gis_api.adjustments.schemas import AdjustmentApprove, AdjustmentCreate, AdjustmentDecision, AdjustmentUpdate
from gis_api.deps import AsOf, CurrentUser, ReadAccess, SessionDep

router = APIRouter(prefix="/api/v1/adjustments", tags=["division adjustments"])
seats_router = APIRouter(prefix="/api/v1/divisions", tags=["divisions"])
PROPOSERS = (auth.Role.admin, auth.Role.officer)
APPROVERS = (auth.Role.admin, auth.Role.reviewer)
IfMatch = Annotated[str | None, Header()]


def _out(row: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(service.as_dict(row), status_code=status, headers={"ETag": service.etag(row)})


@router.get("", summary="Adjustment proposals")
def list_adjustments(session: SessionDep, _user: ReadAccess, status: AdjustmentStatus | None = None
                     ) -> list[dict[str, Any]]:
    return service.list_all(session, status.value if status else None)


@router.post("", status_code=201, summary="Propose an adjustment; the impact report is computed (officer, admin)")
def create_adjustment(body: AdjustmentCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *PROPOSERS)
    return _out(service.create(session, body, user.username), 201)


@router.get("/{adjustment_id}", summary="One adjustment proposal")
def get_adjustment(adjustment_id: int, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    return _out(service.get(session, adjustment_id))


@router.get("/{adjustment_id}/impact", summary="The impact report, recomputed on the current data")
def get_impact(adjustment_id: int, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return service.current_impact(session, service.get(session, adjustment_id))


@router.get("/{adjustment_id}/history", summary="Audit trail of a proposal")
def adjustment_history(adjustment_id: int, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return service.history(session, adjustment_id)


@router.patch("/{adjustment_id}", summary="Edit a draft or submitted proposal (If-Match)")
def update_adjustment(adjustment_id: int, body: AdjustmentUpdate, session: SessionDep, user: CurrentUser,
                      if_match: IfMatch = None) -> JSONResponse:
    auth.require(user, *PROPOSERS)
    return _out(service.update(session, adjustment_id, body, if_match, user.username))


@router.post("/{adjustment_id}/submit", summary="Submit a draft for approval (If-Match)")
def submit_adjustment(adjustment_id: int, body: AdjustmentDecision, session: SessionDep, user: CurrentUser,
                      if_match: IfMatch = None) -> JSONResponse:
    auth.require(user, *PROPOSERS)
    return _out(service.submit(session, adjustment_id, body, if_match, user.username))


@router.post("/{adjustment_id}/approve", summary="Approve with document number and effective date (reviewer, admin)")
def approve_adjustment(adjustment_id: int, body: AdjustmentApprove, session: SessionDep, user: CurrentUser,
                       if_match: IfMatch = None) -> JSONResponse:
    auth.require(user, *APPROVERS)
    return _out(service.approve(session, adjustment_id, body, if_match, user))


@router.post("/{adjustment_id}/reject", summary="Reject a submitted proposal (reviewer, admin)")
def reject_adjustment(adjustment_id: int, body: AdjustmentDecision, session: SessionDep, user: CurrentUser,
                      if_match: IfMatch = None) -> JSONResponse:
    auth.require(user, *APPROVERS)
    return _out(service.reject(session, adjustment_id, body, if_match, user))


@router.post("/{adjustment_id}/withdraw", summary="Withdraw a proposal (officer, admin)")
def withdraw_adjustment(adjustment_id: int, body: AdjustmentDecision, session: SessionDep, user: CurrentUser,
                        if_match: IfMatch = None) -> JSONResponse:
    auth.require(user, *PROPOSERS)
    return _out(service.withdraw(session, adjustment_id, body, if_match, user.username))


@router.post("/{adjustment_id}/apply", summary="Write an approved adjustment on its effective date (officer, admin)")
def apply_adjustment(adjustment_id: int, session: SessionDep, user: CurrentUser,
                     if_match: IfMatch = None) -> JSONResponse:
    auth.require(user, *PROPOSERS)
    return _out(service.apply(session, adjustment_id, if_match, user.username))


@seats_router.get("/{code}/seat", summary="The seat (驻地) of a division on as_of")
def get_seat(code: str, session: SessionDep, _user: ReadAccess, as_of: AsOf) -> dict[str, Any]:
    return {"code": code, "as_of": as_of.isoformat(), "seat": service.seat_of(session, code, as_of)}


@seats_router.get("/{code}/lineage", summary="Which codes this one came from or became (adjustments)")
def get_lineage(code: str, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return {"code": code, "lineage": service.lineage(session, code)}
