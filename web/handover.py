"""The shift handover as a printable page: the report of ``store.desk.handover`` (with
the feeds the web adds) rendered as plain HTML tables, no script, for the screen and for
paper (``static/handover.css`` has the print rules). Times in UTC."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from starlette.responses import HTMLResponse

from mda.analytics import KIND_INFO

from .render import template

__all__ = ["handover_page"]

_OUTCOME = {"false_alarm": "False alarm", "confirmed": "Confirmed", "no_action": "No action"}


def _t(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, (int, float)):
        v = datetime.fromtimestamp(v, UTC)
    return v.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _kind(k: str) -> str:
    info = KIND_INFO.get(k)
    return info.label if info else k.replace("_", " ").capitalize()


def _vessel(r: dict) -> str:
    name = r.get("vessel_name")
    mmsi = r.get("mmsi")
    text = (f"{_e(name)} · " if name else "") + (f"<span class=mono>{mmsi}</span>" if mmsi else "")
    if r.get("other_mmsi"):
        text += f" ⇄ <span class=mono>{r['other_mmsi']}</span>"
    return text


def _table(title: str, head: list[str], rows: list[list[str]], empty: str) -> str:
    out = [f"<section><h2>{_e(title)} <span class=n>{len(rows)}</span></h2>"]
    if not rows:
        out.append(f"<p class=empty>{_e(empty)}</p></section>")
        return "".join(out)
    out.append(
        "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
    )
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    out.append("</tbody></table></section>")
    return "".join(out)


def handover_page(report: dict, user: str) -> HTMLResponse:
    s = report["summary"]
    outcomes = ", ".join(f"{_OUTCOME.get(k, k)} {n}" for k, n in sorted(s["outcomes"].items()))
    parts = [
        "<dl class=summary>",
        f"<dt>Opened</dt><dd>{s['opened']}</dd>",
        f"<dt>Acknowledged</dt><dd>{s['acknowledged']}</dd>",
        f"<dt>Closed</dt><dd>{s['closed']}{' (' + _e(outcomes) + ')' if outcomes else ''}</dd>",
        f"<dt>Still open</dt><dd>{s['open']}</dd>",
        f"<dt>Watch-list hits</dt><dd>{s['watchlist_hits']}</dd>",
        f"<dt>Notes</dt><dd>{s['notes']}</dd>",
        "</dl>",
    ]
    alert_head = ["Alert", "Severity", "Vessel", "What", "Started"]

    def alert_cells(a: dict) -> list[str]:
        return [
            f"#{a['id']} {_e(_kind(a['kind']))}",
            _e(a["severity"]),
            _vessel(a),
            _e(a.get("text") or ""),
            _t(a["start"]),
        ]

    parts.append(
        _table(
            "Open alerts (hand over)",
            alert_head + ["State"],
            [
                alert_cells(a)
                + [
                    (
                        "acknowledged by " + _e(a["acknowledged_by"])
                        if a["status"] == "acknowledged"
                        else "NOT ACKNOWLEDGED"
                    )
                    + (f" · ended {_t(a['end'])}" if a["end"] else "")
                ]
                for a in report["open"]
            ],
            "No alert is open.",
        )
    )
    parts.append(
        _table(
            "Opened during the watch",
            ["Time"] + alert_head,
            [[_t(a["time"])] + alert_cells(a) for a in report["opened"]],
            "No alert opened.",
        )
    )
    parts.append(
        _table(
            "Acknowledged",
            ["Time", "By", "Alert", "Vessel", "Note"],
            [
                [
                    _t(a["time"]),
                    _e(a["actor"]),
                    f"#{a['id']} {_e(_kind(a['kind']))}",
                    _vessel(a),
                    _e(a["note"] or ""),
                ]
                for a in report["acknowledged"]
            ],
            "Nothing acknowledged.",
        )
    )
    parts.append(
        _table(
            "Closed",
            ["Time", "By", "Alert", "Vessel", "Outcome", "Note"],
            [
                [
                    _t(a["time"]),
                    _e(a["actor"]),
                    f"#{a['id']} {_e(_kind(a['kind']))}",
                    _vessel(a),
                    _e(_OUTCOME.get(a["outcome"], a["outcome"] or "—")),
                    _e(a["note"] or ""),
                ]
                for a in report["closed"]
            ],
            "Nothing closed.",
        )
    )
    parts.append(
        _table(
            "Notes",
            ["Time", "Author", "On", "Note"],
            [
                [
                    _t(n["created_at"]),
                    _e(n["author"]),
                    (f"alert #{n['alert_id']} · " if n["alert_id"] else "") + _vessel(n),
                    _e(n["text"]),
                ]
                for n in report["notes"]
            ],
            "No notes.",
        )
    )
    parts.append(
        _table(
            "Rule suspensions in force",
            ["Rule", "Vessel / area", "Until", "By", "Reason"],
            [
                [
                    _e(_kind(x["kind"])),
                    _vessel(x) or "area",
                    _t(x["until"]),
                    _e(x["created_by"]),
                    _e(x["reason"]),
                ]
                for x in report["suspensions"]
            ],
            "No rule is suspended.",
        )
    )
    parts.append(
        _table(
            "Feeds",
            ["Feed", "State", "Last message", "Lines"],
            [
                [
                    _e(f.get("name")),
                    _e(f.get("state")),
                    "—"
                    if f.get("last_message_age_s") is None
                    else f"{f['last_message_age_s']:.0f} s ago",
                    _e(f.get("lines")),
                ]
                for f in report.get("feeds", [])
            ],
            "No feed in this process.",
        )
    )
    text = template("handover.html").substitute(
        start=_t(report["start"]),
        end=_t(report["end"]),
        user=html.escape(user),
        generated=_t(datetime.now(UTC)),
        body="\n".join(parts),
    )
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})
