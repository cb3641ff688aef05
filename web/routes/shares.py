"""Sharing with partners: an officer shares an alert (and optionally an extract of it)
with partners, each share a row of the hash-chained share log (``store.shares``) and
audited; the desk reads with whom an alert was shared and the partners it may pick."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mda.exchange import extract, sharing, signing
from mda.exchange.errors import ExchangeError
from mda.store import partners as store_partners
from mda.store import shares as store_shares

from ..auth import Principal, client_ip
from ..deps import db_conn, officer, require, viewer
from ..errors import WebError
from ..params import ALERT_ID, json_response

__all__ = ["router", "ShareIn"]

router = APIRouter(tags=["sharing"])


class PartnerIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=64)
    country: str = Field(..., min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    kinds: list[str] = Field(default_factory=list, description="empty: every kind")
    min_severity: str = "low"
    area: dict | None = Field(default=None, description="GeoJSON Polygon/MultiPolygon, lon/lat")
    automatic: bool = True
    token_expires_days: float | None = Field(
        default=None, ge=0, description="default: token_expiry_days; 0: no expiry"
    )
    public_key: str | None = Field(
        default=None,
        max_length=4096,
        description="its Ed25519 public key, PEM (its `mda keys show`): verifies its events",
    )


class PolicyIn(BaseModel):
    kinds: list[str] | None = Field(default=None, description="empty: every kind")
    min_severity: str | None = None
    area: dict | None = Field(
        default=None, description="GeoJSON Polygon/MultiPolygon, lon/lat; null clears it"
    )
    automatic: bool | None = None


class PartnerKeyIn(BaseModel):
    public_key: str = Field(
        ..., min_length=1, max_length=4096, description="Ed25519 public key, PEM"
    )


def _partner_key(text: str) -> tuple[str, str]:
    try:
        return signing.partner_key(text)
    except ExchangeError as e:
        raise WebError(422, "invalid", f"public_key: {e}") from None


class ShareIn(BaseModel):
    partners: list[str] = Field(..., min_length=1, max_length=50)
    extract: bool = Field(
        default=False,
        description="make the alert's signed extract now and share it too (kept for the "
        "partners to download from /api/partner/alerts/{id}/extract)",
    )
    extract_id: int | None = Field(
        default=None, ge=1, description="an extract of this alert (GET /api/alerts/{id}/extracts)"
    )
    extract_sha256: str | None = Field(
        default=None, pattern="^[0-9a-fA-F]{64}$", description="the SHA-256 it must have"
    )


def _share_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "time": row["time"].isoformat(),
        "partner": row["partner"],
        "alert_id": row["alert_id"],
        "mode": row["mode"],
        "actor": row["actor"],
        "extract_id": row["extract_id"],
        "extract_sha256": row["extract_sha256"],
        "sha256": row["sha256"],
    }


@router.post(
    "/api/alerts/{alert_id}/share",
    response_class=Response,
    summary="Share an alert (and an extract of it) with partners (officer or higher)",
)
async def share(
    body: ShareIn,
    request: Request,
    alert_id: int = ALERT_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    who = {"actor": principal.name, "role": principal.role, "via": principal.via}
    try:
        if body.extract:
            if body.extract_id is not None:
                raise WebError(422, "invalid", "extract: true makes a new extract; no extract_id")
            settings = request.app.state.settings
            rows = await sharing.share_with_extract(
                db,
                alert_id,
                body.partners,
                extract.ExtractOptions.from_settings(settings),
                extract.Maker(principal.name, principal.role, principal.via),
                sharing.keep_dir_of(settings.data_path),
                ip=client_ip(request),
                **who,
            )
        else:
            rows = await store_shares.share_alert(
                db,
                alert_id,
                body.partners,
                extract_id=body.extract_id,
                extract_sha256=body.extract_sha256,
                ip=client_ip(request),
                **who,
            )
    except store_partners.PartnerDisabled as e:
        raise WebError(409, "conflict", str(e)) from None
    except extract.AlertNotFound as e:
        raise WebError(404, "not_found", str(e)) from None
    except extract.ExtractTooLarge as e:
        raise WebError(422, "too_large", str(e)) from None
    return json_response(json.dumps({"shares": [_share_json(r) for r in rows]}))


@router.get(
    "/api/alerts/{alert_id}/shares",
    response_class=Response,
    summary="With whom an alert was shared, oldest first",
)
async def shares(
    alert_id: int = ALERT_ID, principal: Principal = Depends(viewer), db=Depends(db_conn)
) -> Response:
    rows = await store_shares.shares_of(db, alert_id)
    return json_response(json.dumps({"alert": alert_id, "shares": [_share_json(r) for r in rows]}))


@router.get(
    "/api/partners",
    response_class=Response,
    summary="Partners and their sharing policies (officer or higher)",
)
async def partners(principal: Principal = Depends(officer), db=Depends(db_conn)) -> Response:
    rows = await store_partners.list_partners(db)
    return json_response(json.dumps({"partners": [store_partners.partner_json(r) for r in rows]}))


admin = require("admin")


@router.post(
    "/api/partners",
    response_class=Response,
    status_code=201,
    summary="Add a partner and its policy; its API token in the answer, once (admin)",
)
async def add_partner(
    body: PartnerIn, request: Request, principal: Principal = Depends(admin), db=Depends(db_conn)
) -> Response:
    days = body.token_expires_days
    if days is None:
        days = request.app.state.settings.token_expiry_days
    public_key = _partner_key(body.public_key) if body.public_key else None
    try:
        row, token = await store_partners.add_partner(
            db,
            body.name,
            body.country,
            kinds=body.kinds,
            min_severity=body.min_severity,
            area=body.area,
            automatic=body.automatic,
            token_expires=timedelta(days=days) if days else None,
            public_key=public_key,
            actor=principal.name,
            via=principal.via,
        )
    except (store_partners.DuplicatePartner, store_partners.DuplicateKey) as e:
        raise WebError(409, "conflict", str(e)) from None
    out = {"partner": store_partners.partner_json(row), "token": token}
    return Response(
        json.dumps(out),
        status_code=201,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/api/partners/{name}/disable",
    response_class=Response,
    summary="Disable a partner: its token stops at once, nothing more is shared (admin)",
)
async def disable_partner(
    name: str, principal: Principal = Depends(admin), db=Depends(db_conn)
) -> Response:
    try:
        revoked = await store_partners.disable_partner(
            db, name, actor=principal.name, via=principal.via
        )
    except store_partners.PartnerDisabled as e:
        raise WebError(409, "conflict", str(e)) from None
    return json_response(json.dumps({"partner": name, "tokens_revoked": revoked}))


@router.put(
    "/api/partners/{name}/key",
    response_class=Response,
    summary="Put or replace a partner's Ed25519 public key, which verifies its events (admin)",
)
async def put_partner_key(
    name: str, body: PartnerKeyIn, principal: Principal = Depends(admin), db=Depends(db_conn)
) -> Response:
    public_key = _partner_key(body.public_key)
    try:
        row = await store_partners.set_partner_key(
            db, name, public_key, actor=principal.name, via=principal.via
        )
    except store_partners.DuplicateKey as e:
        raise WebError(409, "conflict", str(e)) from None
    return json_response(json.dumps({"partner": store_partners.partner_json(row)}))


@router.patch(
    "/api/partners/{name}",
    response_class=Response,
    summary="Change a partner's sharing policy: kinds, min_severity, area (null clears it), "
    "automatic; only what is given changes (admin)",
)
async def edit_policy(
    name: str, body: PolicyIn, principal: Principal = Depends(admin), db=Depends(db_conn)
) -> Response:
    given = body.model_fields_set
    row = await store_partners.update_policy(
        db,
        name,
        kinds=body.kinds if "kinds" in given and body.kinds is not None else None,
        min_severity=body.min_severity,
        automatic=body.automatic,
        actor=principal.name,
        via=principal.via,
        **({"area": body.area} if "area" in given else {}),
    )
    return json_response(json.dumps({"partner": store_partners.partner_json(row)}))
