"""Watch lists: vessels of interest by MMSI, IMO, name or call sign, each entry with a
reason and who added it; imported from CSV. Viewers read, officers edit; every change is
in the audit log (same transaction). The analytics raise a ``watchlist`` alert (high)
when a listed vessel appears or changes identity data (the shell hands them the lists)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mda.store import desk

from ..auth import Principal, audit_request
from ..deps import db_conn, officer, viewer
from ..errors import WebError
from ..params import json_dumps, json_response

__all__ = ["router"]

router = APIRouter(tags=["watch lists"])

LIST_ID = Path(..., ge=1, le=2**63 - 1)
MAX_CSV = 1_000_000


class ListIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)


class EntryIn(BaseModel):
    mmsi: int | None = Field(None, ge=1, le=999_999_999)
    imo: int | None = Field(None, ge=1, le=999_999_999)
    name: str | None = Field(None, max_length=120)
    callsign: str | None = Field(None, max_length=20)
    reason: str = Field(..., min_length=1, max_length=2000)


@router.get("/api/watchlists", response_class=Response, summary="Watch lists and their entries")
async def watchlists(principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
    return json_response(await desk.watchlists_json(db))


@router.get(
    "/api/watchlists/vessels",
    response_class=Response,
    summary="Known vessels some watch-list entry names: {mmsi: {list, reason}}",
)
async def watched(principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
    return json_response(await desk.watched_mmsis(db))


@router.post("/api/watchlists", response_class=Response, summary="Create a watch list (officer)")
async def create(
    request: Request, body: ListIn, principal: Principal = Depends(officer), db=Depends(db_conn)
) -> Response:
    async with db.transaction():
        row = await desk.create_watchlist(db, body.name, body.description, principal.name)
        await audit_request(
            db,
            request,
            principal,
            "watchlist.create",
            f"watchlist:{row['id']}",
            {"name": row["name"]},
        )
    return json_response(json_dumps(row))


@router.delete(
    "/api/watchlists/{list_id}", response_class=Response, summary="Delete a watch list (officer)"
)
async def delete(
    request: Request,
    list_id: int = LIST_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    async with db.transaction():
        row = await desk.delete_watchlist(db, list_id)
        await audit_request(
            db,
            request,
            principal,
            "watchlist.delete",
            f"watchlist:{list_id}",
            {"name": row["name"]},
        )
    return json_response(json_dumps(row))


@router.post(
    "/api/watchlists/{list_id}/entries",
    response_class=Response,
    summary="Add a vessel to a watch list, with the reason (officer)",
)
async def add(
    request: Request,
    body: EntryIn,
    list_id: int = LIST_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    async with db.transaction():
        row = await desk.add_entry(db, list_id, body.model_dump(), principal.name)
        await audit_request(
            db,
            request,
            principal,
            "watchlist.add",
            f"watchlist:{list_id}",
            {k: row[k] for k in ("id", "mmsi", "imo", "name", "callsign", "reason")},
        )
    return json_response(json_dumps(row))


@router.delete(
    "/api/watchlists/{list_id}/entries/{entry_id}",
    response_class=Response,
    summary="Remove a vessel from a watch list (officer)",
)
async def remove(
    request: Request,
    list_id: int = LIST_ID,
    entry_id: int = LIST_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    async with db.transaction():
        row = await desk.delete_entry(db, list_id, entry_id)
        await audit_request(
            db,
            request,
            principal,
            "watchlist.remove",
            f"watchlist:{list_id}",
            {k: row[k] for k in ("id", "mmsi", "imo", "name", "callsign", "reason")},
        )
    return json_response(json_dumps(row))


@router.post(
    "/api/watchlists/{list_id}/import",
    response_class=Response,
    summary="Import entries from CSV (header: mmsi, imo, name, callsign, reason) (officer)",
)
async def import_csv(
    request: Request,
    list_id: int = LIST_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    raw = await request.body()
    if len(raw) > MAX_CSV:
        raise WebError(413, "too_large", f"CSV: at most {MAX_CSV} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WebError(422, "invalid", "CSV: not UTF-8") from None
    entries = desk.parse_entries_csv(text)
    async with db.transaction():
        n = await desk.import_entries(db, list_id, entries, principal.name)
        await audit_request(
            db, request, principal, "watchlist.import", f"watchlist:{list_id}", {"entries": n}
        )
    return json_response(json_dumps({"imported": n}))
