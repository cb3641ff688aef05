"""``mda status``: the operator's summary, read from the database.

Works without the web server: it connects to the database the settings name (or the
embedded one, as every command does) and prints the desk alerts not closed by kind and
severity, the data-quality notices per source in the last 24 h, and each rule's
false-alarm share from the outcomes officers recorded over the last 30 days, with the
counts the share rests on. The figures are the ones ``/metrics`` reports: the same queries
in ``store.queries`` over the same windows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from ..database import database_url
from ..errors import MdaError

__all__ = ["register", "run", "Summary", "gather", "format_summary"]


def register(sub) -> None:
    p = sub.add_parser(
        "status",
        help="open alerts, notices per source, each rule's false-alarm "
        "share (from the database; no web server needed)",
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: settings, else the embedded database)",
    )
    p.set_defaults(run=run)


@dataclass
class Summary:
    at: datetime
    alerts: list[tuple[str, str, str, int]]  # kind, severity, status, count
    notices: list[tuple[str, str, int, datetime]]  # source, kind, count, latest
    closures: list[tuple[str, str, int, int]]  # kind, outcome, ever, in the window
    notice_window: timedelta
    closure_window: timedelta


async def gather(url: str) -> Summary:
    from mda.store import queries as q
    from mda.store.db import connect

    conn = await connect(url)
    try:
        return Summary(
            at=datetime.now(UTC),
            alerts=await q.alerts_not_closed(conn),
            notices=await q.notice_counts(conn),
            closures=await q.closure_counts(conn),
            notice_window=q.NOTICE_WINDOW,
            closure_window=q.CLOSURE_WINDOW,
        )
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        # A database this version has not migrated yet: say what to do, not a traceback.
        raise MdaError(
            "the database schema is older than this mda; run `mda db upgrade` first"
        ) from None
    finally:
        await conn.close()


def _utc(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if t else "-"


def _table(header: list[str], rows: list[list], left: int = 1) -> list[str]:
    """Rows as aligned text: the first ``left`` columns left-aligned, numbers right."""
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return [
        "  "
        + "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in cells
    ]


def format_summary(s: Summary) -> str:
    from mda.store.alerts import DESK_SEVERITIES, OUTCOMES
    from mda.store.queries import false_alarm_shares, window_text

    out = [f"mda status at {_utc(s.at)}", ""]

    by_kind: dict[str, dict[str, int]] = {}
    unacked: dict[str, int] = {}
    for kind, severity, status, n in s.alerts:
        row = by_kind.setdefault(kind, {})
        row[severity] = row.get(severity, 0) + n
        if status == "open":
            unacked[kind] = unacked.get(kind, 0) + n
    total = sum(n for *_, n in s.alerts)
    out.append(f"Desk alerts not closed: {total} ({sum(unacked.values())} unacknowledged)")
    if by_kind:
        out += _table(
            ["kind", *DESK_SEVERITIES, "total", "unacknowledged"],
            [
                [k, *(r.get(sev, 0) for sev in DESK_SEVERITIES), sum(r.values()), unacked.get(k, 0)]
                for k, r in sorted(by_kind.items())
            ],
        )
    out.append("")

    out.append(
        f"Data-quality notices, last {window_text(s.notice_window)} (event time): "
        f"{sum(n for _, _, n, _ in s.notices)}"
    )
    if s.notices:
        per_source: dict[str, int] = {}
        for src, _, n, _ in s.notices:
            per_source[src] = per_source.get(src, 0) + n
        # the busiest source first: that is the feed to look at
        rows = sorted(s.notices, key=lambda r: (-per_source[r[0]], r[0], -r[2], r[1]))
        out += _table(
            ["source", "kind", "count", "latest"],
            [[src, kind, n, _utc(latest)] for src, kind, n, latest in rows],
            left=2,
        )
    out.append("")

    shares = false_alarm_shares(s.closures)
    out.append(
        f"False alarms by rule, from closures of the last {window_text(s.closure_window)}: "
        f"{sum(n for _, n in shares.values())} closures with an outcome"
    )
    if shares:
        recent = {(k, oc): r for k, oc, _, r in s.closures}
        out += _table(
            ["rule", *OUTCOMES, "false-alarm share"],
            [
                [
                    k,
                    *(recent.get((k, oc), 0) for oc in OUTCOMES),
                    f"{100 * f / n:.0f}% ({f} of {n})",
                ]
                for k, (f, n) in shares.items()
            ],
        )
    return "\n".join(out)


def run(args, settings) -> int:
    with database_url(settings, args.database) as url:
        summary = asyncio.run(gather(url))
    print(format_summary(summary))
    return 0
