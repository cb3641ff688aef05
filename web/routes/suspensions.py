"""Rule suspensions: a rule (alert kind) silenced for one vessel or an area for a period,
with a reason (a survey ship that loiters by design). Officers suspend and lift; every
console sees them (the vessel panel shows those on its vessel); a supervisor lists all,
expired and lifted too. Each change is in the audit log. A suspension expires by itself:
the service hands the analytics only those in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mda.analytics import KINDS
from mda.store import desk

from ..auth import Principal, audit_request
from ..deps import db_conn, officer, viewer
from ..errors import WebError
from ..params import json_dumps, json_response, parse_bbox, parse_time

__all__ = ["router", "MAX_SUSPENSION"]

router = APIRouter(tags=["suspensions"])

MAX_SUSPENSION = timedelta(days=366)


class SuspensionIn(BaseModel):
    kind: str = Field(..., description="the rule (alert kind) to suspend")
    mmsi: int | None = Field(None, ge=1, le=999_999_999, description="for this vessel ...")
    bbox: str | None = Field(None, description="... or in this area: minlon,minlat,maxlon,maxlat")
    until: str | None = Field(None, description="end of the suspension (a time, or +1h style)")
    hours: float | None = Field(None, gt=0, le=MAX_SUSPENSION.total_seconds() / 3600)
    reason: str = Field(..., min_length=1, max_length=2000)


@router.get(
    "/api/suspensions",
    response_class=Response,
    summary="Rule suspensions in force (all=true: also expired and lifted; supervisor)",
)
async def suspensions(
    mmsi: int | None = Query(None, ge=0, le=999_999_999),
    all: bool = Query(False, description="also expired and lifted ones (supervisor)"),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    if all and not principal.can("supervisor"):
        raise WebError(403, "forbidden", "all suspensions need the supervisor role")
    return json_response(await desk.suspensions_json(db, mmsi=mmsi, all_=all))


@router.post(
    "/api/suspensions",
    response_class=Response,
    summary="Suspend a rule for a vessel or an area for a period, with a reason (officer)",
)
async def suspend(
    request: Request,
    body: SuspensionIn,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    if body.kind not in KINDS:
        raise WebError(422, "invalid", f"kind: unknown {body.kind!r}; one of {', '.join(KINDS)}")
    box = parse_bbox(body.bbox)
    if (body.mmsi is None) == (box is None):
        raise WebError(422, "invalid", "a suspension is for a vessel (mmsi) or an area (bbox)")
    now = datetime.now(UTC)
    if body.hours is not None:
        until = now + timedelta(hours=body.hours)
    else:
        until = parse_time(body.until, "until")
        if until is None:
            raise WebError(422, "invalid", "until or hours: how long the rule is suspended")
    if until <= now:
        raise WebError(422, "invalid", "until: must lie in the future")
    if until - now > MAX_SUSPENSION:
        raise WebError(422, "invalid", "a suspension lasts at most a year")
    bbox = None if box is None else (box.min_lon, box.min_lat, box.max_lon, box.max_lat)
    async with db.transaction():
        row = await desk.create_suspension(
            db,
            kind=body.kind,
            mmsi=body.mmsi,
            bbox=bbox,
            until=until,
            reason=body.reason,
            user=principal.name,
        )
        await audit_request(
            db,
            request,
            principal,
            "suspension.create",
            f"suspension:{row['id']}",
            {
                "kind": body.kind,
                "mmsi": body.mmsi,
                "bbox": bbox,
                "until": until.isoformat(),
                "reason": row["reason"],
            },
        )
    return json_response(json_dumps(row))


@router.post(
    "/api/suspensions/{sid}/lift",
    response_class=Response,
    summary="End a suspension before it expires (officer)",
)
async def lift(
    request: Request,
    sid: int = Path(..., ge=1, le=2**63 - 1),
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    async with db.transaction():
        row = await desk.lift_suspension(db, sid, principal.name)
        await audit_request(
            db,
            request,
            principal,
            "suspension.lift",
            f"suspension:{sid}",
            {"kind": row["kind"], "mmsi": row["mmsi"]},
        )
    return json_response(json_dumps(row))
