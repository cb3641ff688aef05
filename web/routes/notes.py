"""Notes on vessels and alerts (author, time), shown in their panels, and the shift
handover: what happened on the desk in a period (alerts opened, acknowledged, closed with
their outcomes, those still open, notes, suspensions in force, the feeds' health) as JSON
and as a printable page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, Response

from mda.store import desk

from ..auth import Principal, audit_request, authenticate
from ..deps import db_conn, officer, viewer
from ..errors import WebError
from ..handover import handover_page
from ..params import json_dumps, json_response, parse_time

__all__ = ["router"]

router = APIRouter(tags=["notes and handover"])

MAX_HANDOVER = timedelta(days=7)


class NoteIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=4000)
    mmsi: int | None = Field(None, ge=1, le=999_999_999)
    alert_id: int | None = Field(None, ge=1)


@router.get("/api/notes", response_class=Response, summary="Notes on a vessel or an alert")
async def notes(
    mmsi: int | None = Query(None, ge=0, le=999_999_999),
    alert_id: int | None = Query(None, ge=1),
    since: str | None = None,
    limit: int = Query(200, ge=1, le=2000),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    return json_response(
        await desk.notes_json(
            db, mmsi=mmsi, alert_id=alert_id, since=parse_time(since, "since"), limit=limit
        )
    )


@router.post("/api/notes", response_class=Response, summary="Leave a note (officer)")
async def add_note(
    request: Request, body: NoteIn, principal: Principal = Depends(officer), db=Depends(db_conn)
) -> Response:
    async with db.transaction():
        row = await desk.add_note(
            db, text=body.text, author=principal.name, mmsi=body.mmsi, alert_id=body.alert_id
        )
        await audit_request(
            db,
            request,
            principal,
            "note.add",
            f"note:{row['id']}",
            {"mmsi": row["mmsi"], "alert_id": row["alert_id"], "text": row["text"]},
        )
    return json_response(json_dumps(row))


def _period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    t1 = parse_time(end, "end") or datetime.now(UTC)
    t0 = parse_time(start, "start") or t1 - timedelta(hours=12)
    if t0 >= t1:
        raise WebError(422, "invalid", "start is not before end")
    if t1 - t0 > MAX_HANDOVER:
        raise WebError(422, "invalid", "a handover covers at most 7 days")
    return t0, t1


async def _report(request: Request, db, start: str | None, end: str | None) -> dict:
    t0, t1 = _period(start, end)
    report = await desk.handover(db, t0, t1)
    feeds = []
    status = request.app.state.status
    if status is not None:
        try:
            feeds = status().get("feeds", [])
        except Exception:  # the report still answers without the feeds
            feeds = []
    report["feeds"] = feeds
    return report


@router.get(
    "/api/handover",
    response_class=Response,
    summary="The shift handover report for a period (default: the last 12 h)",
)
async def handover_json(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    report = await _report(request, db, start, end)
    report["generated_by"] = principal.name
    return json_response(json_dumps(report))


@router.get("/handover", include_in_schema=False)
async def handover_html(
    request: Request, start: str | None = None, end: str | None = None, db=Depends(db_conn)
) -> HTMLResponse:
    """The handover as a printable page (the same report)."""
    principal = await authenticate(request, db)
    report = await _report(request, db, start, end)
    return handover_page(report, principal.name)
