"""Zones and lanes for the map's layers: the ``zones`` table, or, while it is empty (before
the service has synced its zones), the analytics' built-in set."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends
from starlette.responses import Response

from mda.analytics.zones import builtin_geojson
from mda.store import queries

from ..auth import Principal
from ..deps import db_conn, viewer
from ..params import GEOJSON, json_response

__all__ = ["router"]

router = APIRouter(tags=["zones"])


@router.get(
    "/api/zones",
    response_class=Response,
    summary="Zones and lanes (GeoJSON); the built-in set when the table is empty",
    responses={200: {"content": {GEOJSON: {}}}},
)
async def zones(principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
    text, n = await queries.zones_geojson(db)
    if n == 0:
        text = json.dumps(builtin_geojson(), separators=(",", ":"))
    return json_response(text, GEOJSON)
