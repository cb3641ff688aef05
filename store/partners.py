"""Partners (migration 0010): the agencies alerts are shared with, and their sharing
policies. A partner has API tokens with the role ``partner`` (``accounts.PARTNER``), which
read only what was shared with it; disabling a partner revokes them in the same
transaction, so its token stops working at once.

A policy says which alerts may go to a partner: ``kinds`` (empty: every kind),
``min_severity`` (notices, severity ``info``, never go), ``area`` (a GeoJSON Polygon or
MultiPolygon in lon/lat; None: anywhere) and ``automatic`` (True: every matching alert is
shared as it is stored; False: only when an officer shares it). ``policy_allows`` is the
pure rule; ``shares.py`` keeps the log of what was shared."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mda.analytics import KIND_TABLE

from . import audit
from .accounts import PARTNER, create_token
from .desk import Invalid, NotFound
from .errors import StoreError

__all__ = [
    "PartnerError",
    "PartnerNotFound",
    "InvalidPartner",
    "DuplicatePartner",
    "PartnerDisabled",
    "POLICY_SEVERITIES",
    "parse_area",
    "check_policy",
    "policy_allows",
    "add_partner",
    "get_partner",
    "list_partners",
    "disable_partner",
    "partner_json",
    "set_partner_key",
    "partner_public_key",
    "partner_by_fingerprint",
    "update_policy",
    "DuplicateKey",
]

# As the partners.min_severity CHECK has them, highest first; notices ('info') never go.
POLICY_SEVERITIES = ("critical", "high", "medium", "low")
_RANK = {s: i for i, s in enumerate(POLICY_SEVERITIES)}
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_COLUMNS = (
    "id, name, country, kinds, min_severity, area, automatic, disabled, created_by, "
    "created_at, disabled_by, disabled_at, public_key, key_fingerprint"
)
_FINGERPRINT_RE = re.compile(r"^SHA256:[0-9a-f]{64}$")


class PartnerError(StoreError):
    """A partner rule was broken."""


class PartnerNotFound(PartnerError, NotFound):
    """No partner by that name (the web answers 404)."""


class InvalidPartner(PartnerError, Invalid):
    """A name, country, kind, severity or area the rules do not allow (422)."""


class DuplicatePartner(PartnerError):
    """The name is taken (409)."""


class PartnerDisabled(PartnerError):
    """The partner is disabled: nothing more goes to it (409)."""


class DuplicateKey(PartnerError):
    """The public key is already another partner's (409): a key names one partner."""


# ------------------------------------------------------------------------------ policy (pure)


def _ring_ok(ring: Any) -> bool:
    return (
        isinstance(ring, list)
        and len(ring) >= 4
        and all(
            isinstance(p, list | tuple)
            and len(p) >= 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in p[:2])
            and -180 <= p[0] <= 180
            and -90 <= p[1] <= 90
            for p in ring
        )
    )


def parse_area(text: str | bytes | Mapping) -> dict:
    """A GeoJSON Polygon or MultiPolygon (lon/lat) from GeoJSON text or an object: a
    geometry, a Feature, or a FeatureCollection of one Feature. ``InvalidPartner`` else."""
    if isinstance(text, str | bytes):
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise InvalidPartner(f"--area: not JSON ({e})") from None
    else:
        obj = dict(text)
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        features = obj.get("features") or []
        if len(features) != 1:
            raise InvalidPartner("--area: a FeatureCollection must hold exactly one Feature")
        obj = features[0]
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict) or obj.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidPartner("--area: a GeoJSON Polygon or MultiPolygon (lon/lat) is needed")
    coords = obj.get("coordinates")
    polygons = [coords] if obj["type"] == "Polygon" else coords
    if not isinstance(polygons, list) or not polygons:
        raise InvalidPartner("--area: the polygon has no coordinates")
    for poly in polygons:
        if not isinstance(poly, list) or not poly or not all(_ring_ok(r) for r in poly):
            raise InvalidPartner(
                "--area: each ring needs at least 4 [lon, lat] positions within range"
            )
    return {"type": obj["type"], "coordinates": coords}


def check_policy(kinds: Iterable[str], min_severity: str) -> tuple[list[str], str]:
    """The kinds (each one the analytics raise) and the severity, checked."""
    known = {k.kind for k in KIND_TABLE} | {"hazard"}  # hazard areas (store.shares)
    kinds = sorted({k.strip() for k in kinds if k.strip()})
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise InvalidPartner(
            f"unknown alert kind {', '.join(unknown)}; kinds: {', '.join(sorted(known))}"
        )
    if min_severity not in _RANK:
        raise InvalidPartner(
            f"unknown severity {min_severity!r}; severities: {', '.join(POLICY_SEVERITIES)}"
        )
    return kinds, min_severity


def _in_ring(lon: float, lat: float, ring: list) -> bool:
    inside = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i][0], ring[i][1]
        x2, y2 = ring[(i + 1) % n][0], ring[(i + 1) % n][1]
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def _in_area(lon: float, lat: float, area: Mapping) -> bool:
    polygons = [area["coordinates"]] if area["type"] == "Polygon" else area["coordinates"]
    for poly in polygons:
        if _in_ring(lon, lat, poly[0]) and not any(_in_ring(lon, lat, h) for h in poly[1:]):
            return True
    return False


def policy_allows(policy: Mapping[str, Any], alert: Mapping[str, Any]) -> bool:
    """Whether ``policy`` (a partner row: ``kinds``, ``min_severity``, ``area``,
    ``disabled``) lets ``alert`` (``kind``, ``severity``, ``lat``, ``lon``) go to the
    partner. Pure. A disabled partner gets nothing; a notice never goes; an alert without
    a position is outside any area."""
    if policy.get("disabled"):
        return False
    severity = alert.get("severity")
    if severity not in _RANK:
        return False
    if _RANK[severity] > _RANK[policy.get("min_severity") or "low"]:
        return False
    kinds = policy.get("kinds") or ()
    if kinds and alert.get("kind") not in kinds:
        return False
    area = policy.get("area")
    if area:
        lat, lon = alert.get("lat"), alert.get("lon")
        if lat is None or lon is None or not _in_area(lon, lat, area):
            return False
    return True


# ------------------------------------------------------------------------------ SQL


async def add_partner(
    conn: psycopg.AsyncConnection,
    name: str,
    country: str,
    *,
    kinds: Iterable[str] = (),
    min_severity: str = "low",
    area: Mapping | None = None,
    automatic: bool = True,
    token_expires: datetime | timedelta | None = None,
    public_key: tuple[str, str] | None = None,
    actor: str = "cli",
    via: str = "cli",
) -> tuple[dict, str]:
    """Add a partner with its policy and an API token (role ``partner``, owner the
    partner's name), both audited in one transaction. ``public_key``: its Ed25519 public
    key as (PEM, fingerprint), as ``exchange.signing.partner_key`` makes them from what the
    partner gave. Returns the row and the token (shown once). ``InvalidPartner``,
    ``DuplicatePartner``, ``DuplicateKey``."""
    pem, fp = _check_key(public_key) if public_key is not None else (None, None)
    if not _NAME_RE.match(name or ""):
        raise InvalidPartner("a partner name is 1-64 letters, digits or . _ - (no spaces)")
    country = (country or "").upper()
    if not _COUNTRY_RE.match(country):
        raise InvalidPartner("--country: an ISO 3166-1 alpha-2 code (IN, LK, MV, ...)")
    kinds, min_severity = check_policy(kinds, min_severity)
    geometry = parse_area(area) if area is not None else None
    try:
        async with conn.transaction():
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(
                    "INSERT INTO partners (name, country, kinds, min_severity, area, automatic, "
                    "created_by, public_key, key_fingerprint) "
                    f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                    (
                        name,
                        country,
                        kinds,
                        min_severity,
                        Jsonb(geometry) if geometry else None,
                        automatic,
                        actor,
                        pem,
                        fp,
                    ),
                )
                row = await cur.fetchone()
            await audit.record(
                conn,
                actor=actor,
                via=via,
                action="partner.add",
                target=f"partner:{name}",
                details={
                    "country": country,
                    "kinds": kinds,
                    "min_severity": min_severity,
                    "area": geometry is not None,
                    "automatic": automatic,
                    "key_fingerprint": fp,
                },
            )
            token = await create_token(conn, name, PARTNER, token_expires, actor=actor, via=via)
    except psycopg.errors.UniqueViolation as e:
        if "key_fingerprint" in str(e.diag.constraint_name or ""):
            raise DuplicateKey(f"key {fp} is already another partner's") from None
        raise DuplicatePartner(f"partner {name!r} already exists") from None
    return row, token


def _check_key(public_key: tuple[str, str]) -> tuple[str, str]:
    pem, fp = public_key
    if not isinstance(pem, str) or "-----BEGIN PUBLIC KEY-----" not in pem:
        raise InvalidPartner("a partner's public key is a PEM public key")
    if not isinstance(fp, str) or not _FINGERPRINT_RE.match(fp):
        raise InvalidPartner("a key fingerprint is SHA256: and 64 hex digits")
    return pem, fp


async def set_partner_key(
    conn: psycopg.AsyncConnection,
    name: str,
    public_key: tuple[str, str],
    *,
    actor: str = "cli",
    via: str = "cli",
) -> dict:
    """Put (or replace) a partner's Ed25519 public key, (PEM, fingerprint), audited
    (``partner.key``, with the old and the new fingerprint). Returns the row.
    ``PartnerNotFound``, ``InvalidPartner``, ``DuplicateKey``."""
    pem, fp = _check_key(public_key)
    try:
        async with conn.transaction():
            old = await get_partner(conn, name)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(
                    "UPDATE partners SET public_key = %s, key_fingerprint = %s "
                    f"WHERE name = %s RETURNING {_COLUMNS}",
                    (pem, fp, name),
                )
                row = await cur.fetchone()
            await audit.record(
                conn,
                actor=actor,
                via=via,
                action="partner.key",
                target=f"partner:{name}",
                details={"key_fingerprint": fp, "previous": old["key_fingerprint"]},
            )
    except psycopg.errors.UniqueViolation:
        raise DuplicateKey(f"key {fp} is already another partner's") from None
    return row


async def partner_public_key(conn: psycopg.AsyncConnection, name: str) -> str | None:
    """The partner's Ed25519 public key (PEM), None when it has none on file or there is no
    such partner."""
    cur = await conn.execute("SELECT public_key FROM partners WHERE name = %s", (name,))
    row = await cur.fetchone()
    return row[0] if row else None


async def partner_by_fingerprint(conn: psycopg.AsyncConnection, fingerprint: str) -> dict | None:
    """The partner whose public key has this fingerprint (``SHA256:<hex>``; the hex alone
    and upper case are taken too), enabled or not; None when no partner has it."""
    fp = (fingerprint or "").strip()
    if not fp.upper().startswith("SHA256:"):
        fp = "SHA256:" + fp
    fp = "SHA256:" + fp.split(":", 1)[1].lower()
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM partners WHERE key_fingerprint = %s", (fp,))
        return await cur.fetchone()


async def get_partner(conn: psycopg.AsyncConnection, name: str) -> dict:
    """The partner named ``name``; ``PartnerNotFound`` otherwise."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM partners WHERE name = %s", (name,))
        row = await cur.fetchone()
    if row is None:
        raise PartnerNotFound(f"no partner {name!r}")
    return row


async def list_partners(
    conn: psycopg.AsyncConnection, *, automatic_only: bool = False
) -> list[dict]:
    """Every partner by name (``automatic_only``: the enabled ones whose policy shares
    automatically)."""
    where = "WHERE automatic AND NOT disabled" if automatic_only else ""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM partners {where} ORDER BY name")
        return await cur.fetchall()


async def disable_partner(
    conn: psycopg.AsyncConnection, name: str, *, actor: str = "cli", via: str = "cli"
) -> int:
    """Disable a partner and revoke its tokens, in one audited transaction: nothing more
    is shared with it and its token stops working at once. Returns how many tokens were
    revoked. ``PartnerNotFound``; ``PartnerDisabled`` if it already was."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE partners SET disabled = true, disabled_by = %s, disabled_at = now() "
            "WHERE name = %s AND NOT disabled",
            (actor, name),
        )
        if cur.rowcount != 1:
            await get_partner(conn, name)  # PartnerNotFound when there is none
            raise PartnerDisabled(f"partner {name!r} is already disabled")
        cur = await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() "
            "WHERE role = %s AND owner = %s AND revoked_at IS NULL",
            (PARTNER, name),
        )
        revoked = cur.rowcount
        await audit.record(
            conn,
            actor=actor,
            via=via,
            action="partner.disable",
            target=f"partner:{name}",
            details={"tokens_revoked": revoked},
        )
    return revoked


def partner_json(row: Mapping[str, Any]) -> dict:
    """A partner row for JSON answers (times ISO 8601)."""
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in row.items()
        if k not in ("id",)
    }


_UNSET: Any = object()


async def update_policy(
    conn: psycopg.AsyncConnection,
    name: str,
    *,
    kinds: Iterable[str] | None = None,
    min_severity: str | None = None,
    area: Mapping | None = _UNSET,
    automatic: bool | None = None,
    actor: str = "cli",
    via: str = "cli",
) -> dict:
    """Change a partner's sharing policy (what is given changes; ``area=None`` clears the
    area), audited (``partner.policy``, with the policy before and after). Returns the row.
    Shares already made stay in the log. ``PartnerNotFound``, ``InvalidPartner``."""
    async with conn.transaction():
        old = await get_partner(conn, name)
        new_kinds, new_severity = check_policy(
            old["kinds"] if kinds is None else kinds,
            old["min_severity"] if min_severity is None else min_severity,
        )
        geometry = old["area"] if area is _UNSET else parse_area(area) if area else None
        new_automatic = old["automatic"] if automatic is None else bool(automatic)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "UPDATE partners SET kinds = %s, min_severity = %s, area = %s, automatic = %s "
                f"WHERE name = %s RETURNING {_COLUMNS}",
                (
                    new_kinds,
                    new_severity,
                    Jsonb(geometry) if geometry else None,
                    new_automatic,
                    name,
                ),
            )
            row = await cur.fetchone()

        def policy(kinds, severity, geometry, automatic) -> dict:
            return {
                "kinds": list(kinds),
                "min_severity": severity,
                "area": geometry is not None,
                "automatic": automatic,
            }

        await audit.record(
            conn,
            actor=actor,
            via=via,
            action="partner.policy",
            target=f"partner:{name}",
            details={
                "before": policy(old["kinds"], old["min_severity"], old["area"], old["automatic"]),
                "after": policy(new_kinds, new_severity, geometry, new_automatic),
            },
        )
    return row
