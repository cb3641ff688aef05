"""The share log (migration 0010): every alert, and the extract that went with it, shared
with a partner, by an officer (``manual``) or by the partner's policy (``automatic``).

The table is append-only (its triggers refuse UPDATE, DELETE and TRUNCATE) and a hash
chain: each row carries ``prev_sha256``, the SHA-256 of the previous row's canonical
serialisation (``canonical``: the row's fields as compact JSON with sorted keys, times in
UTC with microseconds; 64 zeros before the first row), and ``sha256``, its own. ``verify``
walks the chain and names the first row whose own hash, or whose link to the row before,
does not hold: a row altered or removed behind the database's back (a superuser who
disabled the triggers) is found. Appends take a transaction-scoped advisory lock, so
concurrent shares chain one after the other."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from . import audit
from .alerts import ALERT_COLUMNS, AlertNotFound
from .desk import Invalid
from .errors import StoreError
from .partners import (
    POLICY_SEVERITIES,
    PartnerDisabled,
    get_partner,
    list_partners,
    policy_allows,
)

__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "ShareError",
    "InvalidShare",
    "canonical",
    "row_hash",
    "share_alert",
    "auto_share",
    "shares_of",
    "log_rows",
    "Broken",
    "verify_rows",
    "verify",
    "shared_alerts",
    "shared_extract",
    "alert_rows",
    "hazard_policy_allows",
    "share_hazard",
    "auto_share_hazards",
    "hazard_shares_of",
    "shared_hazards",
    "hazard_shares_after",
    "hazard_partners",
    "last_share_id",
    "HAZARD_KIND",
]

GENESIS = "0" * 64
# The fields the hash covers, in the table's order (``sha256`` itself excluded).
HASHED_FIELDS = (
    "id",
    "time",
    "partner",
    "alert_id",
    "extract_id",
    "extract_sha256",
    "mode",
    "actor",
    "via",
    "prev_sha256",
)
# A hazard's row (migration 0012) also carries ``hazard_id`` (and no ``alert_id``); the
# hash covers it when it is set, so an alert's row hashes as it always did.
_COLUMNS = ", ".join((*HASHED_FIELDS, "hazard_id", "sha256"))
_LOCK = "hashtext('mda.share_log')"


class ShareError(StoreError):
    """A share the rules do not allow."""


class InvalidShare(ShareError, Invalid):
    """Outside the partner's policy, a notice, or an extract that is not the alert's (422)."""


def _time_text(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash is taken over: its ``HASHED_FIELDS`` (and ``hazard_id`` when
    it is set: a hazard's row) as compact JSON, keys sorted, ASCII only, the time in UTC
    with microseconds."""
    out = {}
    for name in HASHED_FIELDS:
        v = row[name]
        out[name] = _time_text(v) if isinstance(v, datetime) else v
    if row.get("hazard_id") is not None:
        out["hazard_id"] = row["hazard_id"]
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


async def _append(
    conn: psycopg.AsyncConnection,
    partner: str,
    alert_id: int | None,
    mode: str,
    actor: str,
    via: str,
    extract_id: int | None = None,
    extract_sha256: str | None = None,
    hazard_id: int | None = None,
) -> dict:
    """One row at the chain's head (an alert's, or with ``hazard_id`` a hazard's); the
    caller holds the lock and the transaction."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT sha256 FROM share_log ORDER BY id DESC LIMIT 1")
        last = await cur.fetchone()
        await cur.execute("SELECT nextval('share_log_id_seq') AS id, now() AS time")
        row = dict(await cur.fetchone())
        row.update(
            partner=partner,
            alert_id=alert_id,
            extract_id=extract_id,
            extract_sha256=extract_sha256,
            mode=mode,
            actor=actor,
            via=via,
            prev_sha256=last["sha256"] if last else GENESIS,
            hazard_id=hazard_id,
        )
        row["sha256"] = row_hash(row)
        await cur.execute(
            f"INSERT INTO share_log ({_COLUMNS}) VALUES "
            f"({', '.join(f'%({c})s' for c in (*HASHED_FIELDS, 'hazard_id', 'sha256'))})",
            row,
        )
    return row


async def _alert(conn: psycopg.AsyncConnection, alert_id: int) -> dict:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, kind, severity, lat, lon, origin_partner FROM alerts WHERE id = %s",
            (alert_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise AlertNotFound(f"alert {alert_id} not found")
    return row


async def _extract(
    conn: psycopg.AsyncConnection, alert_id: int, extract_id: int, sha256: str | None
) -> str:
    """The SHA-256 of extract ``extract_id`` (its audit row) of alert ``alert_id``."""
    cur = await conn.execute(
        "SELECT details->>'sha256' FROM audit_log WHERE id = %s AND target = %s "
        "AND action LIKE 'extract.%%'",
        (extract_id, f"alert:{alert_id}"),
    )
    row = await cur.fetchone()
    if row is None or not row[0]:
        raise InvalidShare(f"extract {extract_id} is not an extract of alert {alert_id}")
    if sha256 is not None and sha256.lower() != row[0]:
        raise InvalidShare(f"extract {extract_id} has SHA-256 {row[0]}, not {sha256}")
    return row[0]


async def share_alert(
    conn: psycopg.AsyncConnection,
    alert_id: int,
    partners: Sequence[str],
    *,
    extract_id: int | None = None,
    extract_sha256: str | None = None,
    actor: str,
    via: str,
    role: str | None = None,
    ip: str | None = None,
) -> list[dict]:
    """An officer shares alert ``alert_id`` (and optionally its extract ``extract_id``,
    an ``extract.*`` audit row of that alert, whose SHA-256 must be ``extract_sha256``
    when given) with ``partners``: one log row each, and an audit row, in one transaction.
    ``AlertNotFound``, ``PartnerNotFound`` (404); ``PartnerDisabled`` (409);
    ``InvalidShare`` when the alert is outside a partner's policy (422)."""
    names = list(dict.fromkeys(p.strip() for p in partners if p.strip()))
    if not names:
        raise InvalidShare("name at least one partner")
    if extract_sha256 is not None and extract_id is None:
        raise InvalidShare("an extract's SHA-256 goes with its id (extract_id)")
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        alert = await _alert(conn, alert_id)
        if alert["origin_partner"]:  # received on its feed (migration 0011)
            raise InvalidShare(
                f"alert {alert_id} is partner {alert['origin_partner']}'s: not ours to share"
            )
        sha = await _extract(conn, alert_id, extract_id, extract_sha256) if extract_id else None
        rows = []
        for name in names:
            partner = await get_partner(conn, name)
            if partner["disabled"]:
                raise PartnerDisabled(f"partner {name!r} is disabled")
            if not policy_allows(partner, alert):
                raise InvalidShare(
                    f"alert {alert_id} ({alert['kind']}, {alert['severity']}) is outside "
                    f"partner {name}'s policy"
                )
            rows.append(await _append(conn, name, alert_id, "manual", actor, via, extract_id, sha))
        await audit.record(
            conn,
            actor=actor,
            role=role,
            via=via,
            action="share.alert",
            target=f"alert:{alert_id}",
            ip=ip,
            details={
                "partners": names,
                "share_ids": [r["id"] for r in rows],
                "extract_id": extract_id,
                "extract_sha256": sha,
            },
        )
    return rows


async def auto_share(conn: psycopg.AsyncConnection, alerts: Iterable[Mapping]) -> list[dict]:
    """Share stored alert rows with every enabled automatic partner whose policy allows
    them and that has not had them yet (one log row each, actor ``system``, via
    ``policy``; audited). Returns the new log rows."""
    alerts = [a for a in alerts if a.get("id") is not None and a["id"] > 0]
    return await _auto_share(conn, alerts, "alert_id", policy_allows, "shares")


async def _auto_share(
    conn: psycopg.AsyncConnection, items: list[Mapping], column: str, allows, audit_key: str
) -> list[dict]:
    """``auto_share`` and ``auto_share_hazards``: ``items`` (alert or hazard rows, their
    ``id`` in the log's ``column``) to each automatic partner ``allows`` them for, once."""
    if not items:
        return []
    rows = []
    # one transaction from the first read: on a connection that is not in autocommit mode
    # (the service's), a read outside it would leave this a savepoint never committed
    async with conn.transaction():
        partners = await list_partners(conn, automatic_only=True)
        wanted = [(p["name"], x) for x in items for p in partners if allows(p, x)]
        if not wanted:
            return []
        await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        cur = await conn.execute(
            f"SELECT DISTINCT partner, {column} FROM share_log WHERE {column} = ANY(%s)",
            ([x["id"] for x in items],),
        )
        done = set(await cur.fetchall())
        for name, x in wanted:
            if (name, x["id"]) in done:
                continue
            done.add((name, x["id"]))
            if column == "alert_id":
                row = await _append(conn, name, x["id"], "automatic", "system", "policy")
            else:
                row = await _append(
                    conn, name, None, "automatic", "system", "policy", hazard_id=x["id"]
                )
            rows.append(row)
        if rows:
            await audit.record(
                conn,
                actor="system",
                via="policy",
                action="share.auto",
                details={audit_key: [[r["partner"], r[column], r["id"]] for r in rows]},
            )
    return rows


async def shares_of(conn: psycopg.AsyncConnection, alert_id: int) -> list[dict]:
    """With whom alert ``alert_id`` was shared: its log rows, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM share_log WHERE alert_id = %s ORDER BY id", (alert_id,)
        )
        return await cur.fetchall()


async def log_rows(conn: psycopg.AsyncConnection, *, limit: int | None = None) -> list[dict]:
    """The log, oldest first (``limit``: the newest that many)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        if limit is None:
            await cur.execute(f"SELECT {_COLUMNS} FROM share_log ORDER BY id")
            return await cur.fetchall()
        await cur.execute(
            f"SELECT * FROM (SELECT {_COLUMNS} FROM share_log ORDER BY id DESC LIMIT %s) q "
            "ORDER BY id",
            (limit,),
        )
        return await cur.fetchall()


@dataclass(frozen=True)
class Broken:
    """The first row where the chain does not hold, and why."""

    id: int
    reason: str


def verify_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[int, Broken | None]:
    """Walk the chain (rows oldest first): how many rows hold, and the first broken one.
    A row is broken when its own hash does not match its fields (it was altered) or its
    ``prev_sha256`` is not the hash of the row before it (a row before it was removed or
    altered, or rows were reordered)."""
    prev = GENESIS
    n = 0
    for row in rows:
        if row["prev_sha256"] != prev:
            return n, Broken(
                row["id"],
                "its prev_sha256 is not the SHA-256 of the row before it "
                "(a row was removed or inserted before it)",
            )
        if row_hash(row) != row["sha256"]:
            return n, Broken(row["id"], "its fields do not match its SHA-256 (it was altered)")
        prev = row["sha256"]
        n += 1
    return n, None


async def verify(conn: psycopg.AsyncConnection) -> tuple[int, Broken | None, str]:
    """``verify_rows`` over the whole log; also the head hash (what an officer notes
    elsewhere to detect a rewrite of the whole chain)."""
    rows = await log_rows(conn)
    n, broken = verify_rows(rows)
    return n, broken, rows[-1]["sha256"] if rows else GENESIS


async def shared_alerts(conn: psycopg.AsyncConnection, partner: str) -> list[dict]:
    """The alerts shared with ``partner``, newest share first: each alert's id and the
    time, mode and extract of its latest share."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT DISTINCT ON (alert_id) alert_id, id AS share_id, time AS shared_at, mode,
                   extract_id, extract_sha256
            FROM share_log WHERE partner = %s AND alert_id IS NOT NULL
            ORDER BY alert_id, id DESC""",
            (partner,),
        )
        rows = await cur.fetchall()
    return sorted(rows, key=lambda r: r["share_id"], reverse=True)


async def shared_extract(conn: psycopg.AsyncConnection, partner: str, alert_id: int) -> dict | None:
    """The latest extract of alert ``alert_id`` shared with ``partner`` (``extract_id``,
    ``extract_sha256``), or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT extract_id, extract_sha256 FROM share_log WHERE partner = %s "
            "AND alert_id = %s AND extract_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            (partner, alert_id),
        )
        return await cur.fetchone()


async def alert_rows(conn: psycopg.AsyncConnection, ids: Sequence[int]) -> list[dict]:
    """The stored alerts ``ids`` (every ``ALERT_COLUMNS`` and the vessel's name), for
    ``alert_message``."""
    cols = ", ".join(f'a."{c}"' for c in ALERT_COLUMNS)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {cols}, v.name AS vessel_name FROM alerts a "
            "LEFT JOIN vessels v ON v.mmsi = a.mmsi WHERE a.id = ANY(%s)",
            (list(ids),),
        )
        return await cur.fetchall()


# ------------------------------------------------------------------------------ hazards
# A hazard and its vessels at risk shared with partners (issue 14, item 3): rows of the same
# log with ``hazard_id`` instead of ``alert_id``; published by exchange/hazard_feed.py on
# mda/v1/partners/<partner>/hazards/<id>, read by the partner at /api/partner/hazards.

HAZARD_KIND = "hazard"  # a partner's policy kinds may name it: hazards go to it


def hazard_policy_allows(policy: Mapping[str, Any], hazard: Mapping[str, Any]) -> bool:
    """Whether ``policy`` (a partner row) lets ``hazard`` (a hazard row: ``severity``,
    ``geometry``) go to the partner: enabled, the hazard's severity at least its
    ``min_severity``, its ``kinds`` empty (every kind) or naming ``hazard``, and the area,
    when it has one, meeting the hazard's. Pure."""
    if policy.get("disabled"):
        return False
    order = POLICY_SEVERITIES
    severity = hazard.get("severity")
    if severity not in order or order.index(severity) > order.index(
        policy.get("min_severity") or "low"
    ):
        return False
    kinds = policy.get("kinds") or ()
    if kinds and HAZARD_KIND not in kinds:
        return False
    area = policy.get("area")
    if area:
        from shapely.geometry import shape

        try:
            return bool(shape(area).intersects(shape(hazard["geometry"])))
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
    return True


async def share_hazard(
    conn: psycopg.AsyncConnection,
    hazard_id: int,
    partners: Sequence[str],
    *,
    actor: str,
    via: str,
    role: str | None = None,
    ip: str | None = None,
) -> list[dict]:
    """An officer shares hazard ``hazard_id`` (and so its vessels at risk) with
    ``partners``: one log row each and an audit row (``share.hazard``), in one transaction.
    ``HazardNotFound``, ``PartnerNotFound`` (404); ``PartnerDisabled`` (409);
    ``InvalidShare`` (422) when it is ended or expired, or outside a partner's policy."""
    from .hazards import get_hazard

    names = list(dict.fromkeys(p.strip() for p in partners if p.strip()))
    if not names:
        raise InvalidShare("name at least one partner")
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        hazard = await get_hazard(conn, hazard_id)
        if hazard["state"] in ("ended", "expired"):
            raise InvalidShare(
                f"hazard {hazard_id} is {hazard['state']}: there is nothing to warn of any more"
            )
        if hazard["state"] == "awaiting_confirmation":
            raise InvalidShare(
                f"hazard {hazard_id} awaits a supervisor's confirmation: share it once confirmed"
            )
        rows = []
        for name in names:
            partner = await get_partner(conn, name)
            if partner["disabled"]:
                raise PartnerDisabled(f"partner {name!r} is disabled")
            if not hazard_policy_allows(partner, hazard):
                raise InvalidShare(
                    f"hazard {hazard_id} ({hazard['severity']}) is outside partner {name}'s policy"
                )
            rows.append(await _append(conn, name, None, "manual", actor, via, hazard_id=hazard_id))
        await audit.record(
            conn,
            actor=actor,
            role=role,
            via=via,
            action="share.hazard",
            target=f"hazard:{hazard_id}",
            ip=ip,
            details={"partners": names, "share_ids": [r["id"] for r in rows]},
        )
    return rows


async def auto_share_hazards(
    conn: psycopg.AsyncConnection, hazards: Iterable[Mapping]
) -> list[dict]:
    """Share hazard rows (in force or pending) with every enabled automatic partner whose
    policy allows them and that has not had them yet (actor ``system``, via ``policy``;
    audited ``share.auto``). Returns the new log rows."""
    hazards = [h for h in hazards if h.get("id") is not None]
    return await _auto_share(conn, hazards, "hazard_id", hazard_policy_allows, "hazard_shares")


async def hazard_shares_of(conn: psycopg.AsyncConnection, hazard_id: int) -> list[dict]:
    """With whom hazard ``hazard_id`` was shared: its log rows, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM share_log WHERE hazard_id = %s ORDER BY id", (hazard_id,)
        )
        return await cur.fetchall()


async def shared_hazards(conn: psycopg.AsyncConnection, partner: str) -> list[dict]:
    """The hazards shared with ``partner``, newest share first: each hazard's id and the
    time and mode of its latest share."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT DISTINCT ON (hazard_id) hazard_id, id AS share_id, time AS shared_at, mode
            FROM share_log WHERE partner = %s AND hazard_id IS NOT NULL
            ORDER BY hazard_id, id DESC""",
            (partner,),
        )
        rows = await cur.fetchall()
    return sorted(rows, key=lambda r: r["share_id"], reverse=True)


async def last_share_id(conn: psycopg.AsyncConnection, before: datetime | None = None) -> int:
    """The id of the log's newest row (made before ``before``, when given); 0 if none."""
    if before is None:
        cur = await conn.execute("SELECT coalesce(max(id), 0) FROM share_log")
    else:
        cur = await conn.execute(
            "SELECT coalesce(max(id), 0) FROM share_log WHERE time < %s", (before,)
        )
    (n,) = await cur.fetchone()
    return int(n)


async def hazard_shares_after(conn: psycopg.AsyncConnection, after_id: int) -> list[dict]:
    """The hazard rows of the log after row ``after_id`` whose partner is enabled, oldest
    first (what the hazard feed has to send to partners)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {", ".join(f"s.{c}" for c in _COLUMNS.split(", "))}
                FROM share_log s JOIN partners p ON p.name = s.partner AND NOT p.disabled
                WHERE s.id > %s AND s.hazard_id IS NOT NULL ORDER BY s.id""",
            (after_id,),
        )
        return await cur.fetchall()


async def hazard_partners(
    conn: psycopg.AsyncConnection, hazard_ids: Sequence[int], upto_id: int
) -> dict[int, list[str]]:
    """For each of ``hazard_ids``, the enabled partners it was shared with in the log's
    rows up to ``upto_id``, by name."""
    out: dict[int, list[str]] = {}
    if not hazard_ids:
        return out
    cur = await conn.execute(
        """SELECT DISTINCT s.hazard_id, s.partner FROM share_log s
           JOIN partners p ON p.name = s.partner AND NOT p.disabled
           WHERE s.hazard_id = ANY(%s) AND s.id <= %s ORDER BY 1, 2""",
        (list(hazard_ids), upto_id),
    )
    for hid, partner in await cur.fetchall():
        out.setdefault(hid, []).append(partner)
    return out
