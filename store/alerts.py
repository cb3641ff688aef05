"""Alerts in the database: the analytics' changes upserted by episode key, and the
officers' lifecycle actions (acknowledge, close), each written to ``alert_history``; and
``AlertMessage``, the one format in which an alert leaves mda (WebSocket and MQTT).

Severities ``critical``, ``high``, ``medium`` and ``low`` are desk alerts; ``info`` is a
data-quality notice (``details["source"]`` names the feed that delivered the bad data): it
never rings and stays off the desk unless asked for. Closing a desk alert takes an
``outcome`` (``OUTCOMES``), what the officer found, so each rule's false-alarm share can be
measured; for a notice it is optional."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .errors import StoreError

__all__ = [
    "save_changes",
    "acknowledge",
    "close",
    "end_open_episodes",
    "AlertNotFound",
    "InvalidTransition",
    "PartnerAlertReadOnly",
    "InvalidOutcome",
    "ALERT_COLUMNS",
    "SEVERITIES",
    "DESK_SEVERITIES",
    "NOTICE",
    "OUTCOMES",
    "AlertMessage",
    "alert_message",
]

ALERT_COLUMNS = (
    "id",
    "key",
    "kind",
    "severity",
    "status",
    "mmsi",
    "other_mmsi",
    "start",
    "end",
    "lat",
    "lon",
    "zone",
    "details",
    "created_at",
    "updated_at",
    "acknowledged_by",
    "acknowledged_at",
    "closed_by",
    "closed_at",
    "note",
    "outcome",
)

# As the alerts.severity CHECK has them (migration 0003), highest first.
SEVERITIES = ("critical", "high", "medium", "low", "info")
NOTICE = "info"  # a data-quality notice, not an alert for the desk
DESK_SEVERITIES = tuple(s for s in SEVERITIES if s != NOTICE)

# What an officer found when closing an alert, as the alerts.outcome CHECK has them:
# false_alarm: nothing was there as the rule said (bad data, or normal behaviour misread);
# confirmed: the situation was real and needed attention (acted on, reported, watched);
# no_action: real as described, but legitimate or known: nothing to do.
OUTCOMES = ("false_alarm", "confirmed", "no_action")
_SELECT = ", ".join(f'"{c}"' for c in ALERT_COLUMNS)


class AlertNotFound(StoreError):
    pass


class InvalidTransition(StoreError):
    pass


class PartnerAlertReadOnly(InvalidTransition):
    """A partner's alert (received on its feed, migration 0011): only the partner
    acknowledges or closes it (the web answers 409)."""


class InvalidOutcome(StoreError):
    """A closing without the outcome a desk alert needs, or with one not in OUTCOMES."""


def _ts(v: float | None) -> datetime | None:
    return None if v is None else datetime.fromtimestamp(v, UTC)


# An episode that had ended and goes on again (the analytics' cooldown merges a new episode
# into the last one) is the situation coming back: it returns to the desk as open, even if
# an officer had acknowledged or closed it.
_UPSERT = f"""
WITH before AS (SELECT "end" IS NOT NULL AS ended FROM alerts WHERE key = %(key)s)
INSERT INTO alerts AS a (key, kind, severity, mmsi, other_mmsi, start, "end", lat, lon, zone,
                         details)
VALUES (%(key)s, %(kind)s, %(severity)s, %(mmsi)s, %(other_mmsi)s, %(start)s, %(end)s,
        %(lat)s, %(lon)s, %(zone)s, %(details)s)
ON CONFLICT (key) DO UPDATE SET
    severity = EXCLUDED.severity, "end" = EXCLUDED."end", lat = EXCLUDED.lat,
    lon = EXCLUDED.lon, zone = EXCLUDED.zone, details = EXCLUDED.details,
    other_mmsi = EXCLUDED.other_mmsi, updated_at = now(),
    status = CASE WHEN a."end" IS NOT NULL AND EXCLUDED."end" IS NULL THEN 'open'
                  ELSE a.status END
RETURNING {", ".join(f'a."{c}"' for c in ALERT_COLUMNS)}, (xmax = 0) AS inserted,
          coalesce((SELECT ended FROM before), false) AND "end" IS NULL AS reopened
"""


async def save_changes(conn: psycopg.AsyncConnection, changes: Iterable[Any]) -> list[dict]:
    """Store the analytics' AlertChanges; returns the stored rows (with ``id`` and
    ``status``) in the same order, for the live hub and the MQTT publisher."""
    rows: list[dict] = []
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            for ch in changes:
                a = ch.alert
                await cur.execute(
                    _UPSERT,
                    {
                        "key": a.key,
                        "kind": a.kind,
                        "severity": a.severity,
                        "mmsi": a.mmsi,
                        "other_mmsi": a.other_mmsi,
                        "start": _ts(a.start),
                        "end": _ts(a.end),
                        "lat": a.lat,
                        "lon": a.lon,
                        "zone": a.zone,
                        "details": Jsonb(a.details),
                    },
                )
                row = await cur.fetchone()
                reopened = row.pop("reopened")
                action = (
                    "opened"
                    if row.pop("inserted")
                    else (
                        "reopened" if reopened else "ended" if ch.change == "closed" else "updated"
                    )
                )
                # Every opening and ending goes in the history; growth updates would flood
                # it, so only the first and last state of an episode are kept there.
                if action != "updated":
                    await cur.execute(
                        "INSERT INTO alert_history (alert_id, action, actor, details) "
                        "VALUES (%s, %s, 'analytics', %s)",
                        (row["id"], action, Jsonb(a.details)),
                    )
                row["change"] = action
                rows.append(row)
    return rows


async def _transition(
    conn: psycopg.AsyncConnection,
    alert_id: int,
    user: str,
    note: str | None,
    action: str,
    allowed_from: tuple[str, ...],
    sets: str,
    outcome: str | None = None,
    note_required: bool = False,
) -> dict:
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT status, severity, origin_partner FROM alerts WHERE id = %s FOR UPDATE",
                (alert_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise AlertNotFound(f"alert {alert_id} not found")
            if row["origin_partner"]:
                verb = "acknowledge" if action == "acknowledged" else "close"
                owner = row["origin_partner"]
                raise PartnerAlertReadOnly(
                    f"alert {alert_id} is partner {owner}'s: read-only here, "
                    f"only {owner} can {verb} it"
                )
            if row["status"] not in allowed_from:
                raise InvalidTransition(
                    f"alert {alert_id} is {row['status']}; cannot {action[:-2]} it"
                )
            if action == "closed":
                _check_outcome(alert_id, row["severity"], outcome)
                if note_required and row["severity"] != NOTICE and not (note or "").strip():
                    raise InvalidOutcome(
                        f"note: required to close alert {alert_id}: say what was found or done"
                    )
            await cur.execute(
                f"UPDATE alerts SET {sets}, note = coalesce(%(note)s, note), updated_at = now() "
                f"WHERE id = %(id)s RETURNING {_SELECT}",
                {"id": alert_id, "user": user, "note": note, "outcome": outcome},
            )
            updated = await cur.fetchone()
            await cur.execute(
                "INSERT INTO alert_history (alert_id, action, actor, note, outcome) "
                "VALUES (%s, %s, %s, %s, %s)",
                (alert_id, action, user, note, outcome),
            )
    return updated


def _check_outcome(alert_id: int, severity: str, outcome: str | None) -> None:
    """A desk alert is closed with what the officer found (the false-alarm share of its
    rule is measured from these); a data-quality notice may be closed without one."""
    choices = ", ".join(OUTCOMES)
    if outcome is None:
        if severity != NOTICE:
            raise InvalidOutcome(
                f"outcome: required to close alert {alert_id} "
                f"(severity {severity}); one of {choices}"
            )
    elif outcome not in OUTCOMES:
        raise InvalidOutcome(f"outcome: unknown {outcome!r}; one of {choices}")


async def acknowledge(
    conn: psycopg.AsyncConnection, alert_id: int, user: str, note: str | None = None
) -> dict:
    return await _transition(
        conn,
        alert_id,
        user,
        note,
        "acknowledged",
        ("open",),
        "status = 'acknowledged', acknowledged_by = %(user)s, acknowledged_at = now()",
    )


async def close(
    conn: psycopg.AsyncConnection,
    alert_id: int,
    user: str,
    note: str | None = None,
    outcome: str | None = None,
    *,
    note_required: bool = False,
) -> dict:
    """Close an open or acknowledged alert. ``outcome`` (one of ``OUTCOMES``) is required
    unless the alert is a notice (severity ``info``): InvalidOutcome otherwise; with
    ``note_required`` (the desk) a desk alert also needs a note saying why."""
    return await _transition(
        conn,
        alert_id,
        user,
        note,
        "closed",
        ("open", "acknowledged"),
        "status = 'closed', closed_by = %(user)s, closed_at = now(), outcome = %(outcome)s",
        outcome,
        note_required,
    )


def end_open_episodes(conn: psycopg.Connection) -> int:
    """At start-up: end the episodes a previous run left open (their detectors' memory is
    gone) at the last evidence they reported (start + duration, in event time, not the
    wall clock), noting why in the history. Returns how many."""
    with conn.transaction():
        rows = conn.execute("""
            UPDATE alerts SET
                "end" = start + coalesce((details ->> 'duration_min')::float8, 0)
                                * interval '1 minute',
                updated_at = now()
            WHERE "end" IS NULL AND origin_partner IS NULL RETURNING id""").fetchall()
        if rows:
            conn.cursor().executemany(
                "INSERT INTO alert_history (alert_id, action, actor, note) "
                "VALUES (%s, 'ended', 'system', 'service restarted; episode ended at its last update')",
                rows,
            )
    return len(rows)


# ------------------------------------------------------------------------------ the wire format


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """An alert as it leaves mda: the live WebSocket's ``alert`` frames and the MQTT
    payloads partners receive are both made here, so the format is set by this class and
    not by whichever query produced the row.

    The fields are the alerts table's columns (``ALERT_COLUMNS``), the vessel's name when
    the row carries it, ``stored`` (false for an alert raised while the database was
    away, until it is stored) and ``change``: what just happened (``opened``,
    ``updated``, ``ended``, ``reopened``, ``acknowledged``, ``closed``)."""

    id: int | None = None
    key: str | None = None
    kind: str | None = None
    severity: str | None = None
    status: str | None = None
    mmsi: int | None = None
    other_mmsi: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    zone: str | None = None
    details: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    note: str | None = None
    outcome: str | None = None
    vessel_name: str | None = None
    # False while the alert waits for the database (raised during an outage: ``id`` is then
    # a provisional negative number); the stored row follows once it is in. In the
    # message (``to_dict``) only when false.
    stored: bool = True
    change: str | None = None

    def to_dict(self, *, zulu: bool = False) -> dict[str, Any]:
        """The alert's fields (those ``GET /api/alerts`` gives, without ``change``), ready
        for ``json.dumps``: times as ISO 8601 in UTC, ending ``+00:00`` (as PostgreSQL
        writes them in the REST answers the map compares them with) or, with ``zulu``,
        ``Z`` (the MQTT payloads, as partners have always received them)."""
        out: dict[str, Any] = {}
        for name in _ALERT_FIELDS:
            v = getattr(self, name)
            out[name] = _utc_text(v, zulu) if isinstance(v, datetime) else v
        if self.stored:  # only an alert still waiting for the database says so
            del out["stored"]
        return out

    def to_event(self, *, zulu: bool = False) -> dict[str, Any]:
        """``to_dict`` and ``change``: a message that stands alone (the MQTT payload)."""
        return {**self.to_dict(zulu=zulu), "change": self.change}


_ALERT_FIELDS = tuple(f.name for f in fields(AlertMessage) if f.name != "change")


def alert_message(row: Mapping[str, Any], change: str | None = None) -> AlertMessage:
    """The message for a stored alert row (``save_changes``, ``acknowledge``, ``close``;
    with ``vessel_name`` when it has one). ``change`` defaults to the row's own. Keys the
    row lacks are None; keys the format does not have are left out."""
    values = {name: row.get(name) for name in _ALERT_FIELDS}
    values["stored"] = row.get("stored") is not False
    return AlertMessage(**values, change=change if change is not None else row.get("change"))


def _utc_text(t: datetime, zulu: bool) -> str:
    # Always UTC, whatever time zone the connection that read the row ran in; naive
    # times are the store's UTC.
    t = t.astimezone(UTC) if t.tzinfo is not None else t.replace(tzinfo=UTC)
    text = t.isoformat()
    return text[:-6] + "Z" if zulu else text
